"""Reference implementation of the compat corpus's auction-house (HTTP bids, WebSocket broadcast).

Set MUTANT to no-broadcast (a bid is accepted but never sent to subscribers) or ws-refused (no
WebSocket endpoint: the upgrade gets 404) to get a deliberately broken service.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from typing import Any

from _http import MUTANT, Reply, WebSocket, serve

AUCTIONS: dict[str, dict[str, Any]] = {}
SUBSCRIBERS: dict[str, list[WebSocket]] = {}
LOCK = threading.Lock()


def create(*, query: dict[str, str], body: Any) -> Reply:
    if not isinstance(body, dict) or not isinstance(body.get("item"), str) or not body["item"]:
        return 400, {"error": "item is required"}
    price = body.get("starting_price")
    if isinstance(price, bool) or not isinstance(price, int | float) or price < 0:
        return 400, {"error": "starting_price must be a non-negative number"}
    auction = {"id": uuid.uuid4().hex, "item": body["item"], "current_price": price, "bids": 0}
    with LOCK:
        AUCTIONS[auction["id"]] = auction
    return 201, {k: auction[k] for k in ("id", "item", "current_price")}


def read(auction_id: str, *, query: dict[str, str], body: Any) -> Reply:
    auction = AUCTIONS.get(auction_id)
    return (200, auction) if auction else (404, {"error": "auction not found"})


def bid(auction_id: str, *, query: dict[str, str], body: Any) -> Reply:
    amount = body.get("amount") if isinstance(body, dict) else None
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return 400, {"accepted": False, "reason": "amount must be a number"}
    with LOCK:
        auction = AUCTIONS.get(auction_id)
        if auction is None:
            return 404, {"error": "auction not found"}
        if amount <= auction["current_price"]:
            reason = f"bid must be greater than the current price {auction['current_price']}"
            return 400, {"accepted": False, "reason": reason}
        auction["current_price"] = amount
        auction["bids"] += 1
        event = json.dumps({"event": "bid", "amount": amount, "bids": auction["bids"]})
        subscribers = list(SUBSCRIBERS.get(auction_id, []))
    if MUTANT != "no-broadcast":
        for ws in subscribers:
            with contextlib.suppress(OSError):
                ws.send_text(event)
    return 200, {"accepted": True, "amount": amount}


def subscribe(auction_id: str, *, ws: WebSocket) -> None:
    with LOCK:
        SUBSCRIBERS.setdefault(auction_id, []).append(ws)
    try:
        ws.wait_closed()
    finally:
        with LOCK:
            SUBSCRIBERS[auction_id].remove(ws)


if __name__ == "__main__":
    serve(
        [
            ("POST", re.compile(r"/auctions"), create),
            ("GET", re.compile(r"/auctions/([^/]+)"), read),
            ("POST", re.compile(r"/auctions/([^/]+)/bid"), bid),
        ],
        websockets=[]
        if MUTANT == "ws-refused"
        else [(re.compile(r"/ws/auctions/([^/]+)"), subscribe)],
    )

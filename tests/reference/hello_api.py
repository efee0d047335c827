"""Reference implementation of the compat corpus's hello-api (items CRUD with pagination).

Set MUTANT to wrong-status (DELETE answers 200), missing-field (no created_at) or
broken-pagination (limit and offset ignored) to get a deliberately broken service.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from typing import Any

from _http import MUTANT, Reply, serve

ITEMS: dict[str, dict[str, Any]] = {}
LOCK = threading.Lock()


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    name = body.get("name")
    if name is None:
        return "name is required"
    if not isinstance(name, str) or not name.strip():
        return "name must be a non-empty string"
    if len(name) > 100:
        return "name must be at most 100 characters"
    return None


def _public(item: dict[str, Any]) -> dict[str, Any]:
    if MUTANT == "missing-field":
        return {k: v for k, v in item.items() if k != "created_at"}
    return item


def create(*, query: dict[str, str], body: Any) -> Reply:
    if problem := _invalid(body):
        return 400, {"error": problem}
    item = {
        "id": str(uuid.uuid4()),
        "name": body["name"],
        "description": body.get("description", ""),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    with LOCK:
        ITEMS[item["id"]] = item
    return 201, _public(item)


def read(item_id: str, *, query: dict[str, str], body: Any) -> Reply:
    item = ITEMS.get(item_id)
    return (200, _public(item)) if item else (404, {"error": "item not found"})


def update(item_id: str, *, query: dict[str, str], body: Any) -> Reply:
    with LOCK:
        item = ITEMS.get(item_id)
        if item is None:
            return 404, {"error": "item not found"}
        if problem := _invalid(body):
            return 400, {"error": problem}
        item.update(name=body["name"], description=body.get("description", ""))
    return 200, _public(item)


def delete(item_id: str, *, query: dict[str, str], body: Any) -> Reply:
    with LOCK:
        if ITEMS.pop(item_id, None) is None:
            return 404, {"error": "item not found"}
    return (200, {"deleted": item_id}) if MUTANT == "wrong-status" else (204, None)


def list_items(*, query: dict[str, str], body: Any) -> Reply:
    try:
        limit = min(int(query.get("limit", 20)), 100)
        offset = max(int(query.get("offset", 0)), 0)
    except ValueError:
        return 400, {"error": "limit and offset must be integers"}
    items = list(ITEMS.values())
    page = items if MUTANT == "broken-pagination" else items[offset : offset + limit]
    return 200, {"items": [_public(i) for i in page], "total": len(items)}


if __name__ == "__main__":
    serve(
        [
            ("POST", re.compile(r"/items"), create),
            ("GET", re.compile(r"/items"), list_items),
            ("GET", re.compile(r"/items/([^/]+)"), read),
            ("PUT", re.compile(r"/items/([^/]+)"), update),
            ("DELETE", re.compile(r"/items/([^/]+)"), delete),
        ]
    )

"""Reference implementation of the compat corpus's kanban-board (server-rendered HTML and a REST
API over one in-memory store; forms post and redirect, no JavaScript).

Set MUTANT to move-broken (the move buttons redirect back without moving the card) or
delete-broken (the delete button leaves the card in place) to get a deliberately broken service.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import threading
import uuid
from typing import Any

from _http import MUTANT, Html, Redirect, Reply, serve

COLUMNS = {"todo": "To Do", "in-progress": "In Progress", "done": "Done"}
NEXT = {"todo": ("in-progress", "Start"), "in-progress": ("done", "Done")}
CARDS: dict[str, dict[str, Any]] = {}
LOCK = threading.Lock()


def _title_problem(title: Any) -> str | None:
    if title is None:
        return "title is required"
    if not isinstance(title, str) or not title.strip():
        return "title must not be empty"
    if len(title) > 200:
        return "title must be between 1 and 200 characters long"
    return None


def _new(title: str) -> dict[str, Any]:
    card = {
        "id": uuid.uuid4().hex,
        "title": title,
        "column": "todo",
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    with LOCK:
        CARDS[card["id"]] = card
    return card


def api_list(*, query: dict[str, str], body: Any) -> Reply:
    return 200, list(CARDS.values())


def api_create(*, query: dict[str, str], body: Any) -> Reply:
    title = body.get("title") if isinstance(body, dict) else None
    if problem := _title_problem(title):
        return 400, {"error": problem}
    return 201, _new(str(title))  # a str: _title_problem found none


def api_read(card_id: str, *, query: dict[str, str], body: Any) -> Reply:
    card = CARDS.get(card_id)
    return (200, card) if card else (404, {"error": "card not found"})


def api_update(card_id: str, *, query: dict[str, str], body: Any) -> Reply:
    with LOCK:
        card = CARDS.get(card_id)
        if card is None:
            return 404, {"error": "card not found"}
        if not isinstance(body, dict):
            return 400, {"error": "body must be a JSON object"}
        if "column" in body and body["column"] not in COLUMNS:
            return 400, {"error": f"column must be one of {', '.join(COLUMNS)}"}
        if "title" in body and (problem := _title_problem(body["title"])):
            return 400, {"error": problem}
        card.update({k: body[k] for k in ("title", "column") if k in body})
    return 200, card


def api_delete(card_id: str, *, query: dict[str, str], body: Any) -> Reply:
    with LOCK:
        if CARDS.pop(card_id, None) is None:
            return 404, {"error": "card not found"}
    return 204, None


def _card_html(card: dict[str, Any]) -> str:
    cid = html.escape(card["id"])
    move = ""
    if card["column"] in NEXT:
        label = NEXT[card["column"]][1]
        move = (
            f'<form method="POST" action="/cards/{cid}/move">'
            f'<button type="submit" data-testid="move-next">{label}</button></form>'
        )
    return (
        f'<li class="card" data-card-id="{cid}"><span>{html.escape(card["title"])}</span>{move}'
        f'<form method="POST" action="/cards/{cid}/delete">'
        '<button type="submit" data-testid="delete-card">Delete</button></form></li>'
    )


def board(*, query: dict[str, str], body: Any) -> Reply:
    columns = []
    for slug, name in COLUMNS.items():
        cards = "".join(_card_html(c) for c in CARDS.values() if c["column"] == slug)
        columns.append(f'<section data-column="{slug}"><h2>{name}</h2><ul>{cards}</ul></section>')
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Kanban Board</title>"
        "<style>main{display:flex;gap:1em}section{flex:1}</style></head><body>"
        "<h1>Kanban Board</h1>"
        '<form method="POST" action="/cards">'
        '<input name="title" data-testid="new-card-input" required maxlength="200">'
        '<button type="submit" data-testid="add-card-button">Add card</button></form>'
        f"<main>{''.join(columns)}</main></body></html>"
    )
    return 200, Html(page)


def form_create(*, query: dict[str, str], body: Any) -> Reply:
    title = body.get("title") if isinstance(body, dict) else None
    if _title_problem(title) is None:
        _new(str(title))
    return 303, Redirect("/")


def form_move(card_id: str, *, query: dict[str, str], body: Any) -> Reply:
    with LOCK:
        card = CARDS.get(card_id)
        if card is not None and card["column"] in NEXT and MUTANT != "move-broken":
            card["column"] = NEXT[card["column"]][0]
    return 303, Redirect("/")


def form_delete(card_id: str, *, query: dict[str, str], body: Any) -> Reply:
    if MUTANT != "delete-broken":
        with LOCK:
            CARDS.pop(card_id, None)
    return 303, Redirect("/")


if __name__ == "__main__":
    serve(
        [
            ("GET", re.compile(r"/"), board),
            ("POST", re.compile(r"/cards"), form_create),
            ("POST", re.compile(r"/cards/([^/]+)/move"), form_move),
            ("POST", re.compile(r"/cards/([^/]+)/delete"), form_delete),
            ("GET", re.compile(r"/api/cards"), api_list),
            ("POST", re.compile(r"/api/cards"), api_create),
            ("GET", re.compile(r"/api/cards/([^/]+)"), api_read),
            ("PUT", re.compile(r"/api/cards/([^/]+)"), api_update),
            ("DELETE", re.compile(r"/api/cards/([^/]+)"), api_delete),
        ]
    )

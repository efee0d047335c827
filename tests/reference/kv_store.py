"""Reference implementation of the compat corpus's kv-store (TTL, prefix listing, bulk writes).

Set MUTANT to wrong-status (PUT answers 200), missing-field (no expires_at),
broken-pagination (list ignores prefix and limit) or ttl-ignored (records never expire).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

from _http import MUTANT, Reply, serve

KEY = re.compile(r"[A-Za-z0-9_-]{1,256}")
RECORDS: dict[str, dict[str, Any]] = {}
EXPIRY: dict[str, float] = {}
LOCK = threading.Lock()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _alive(key: str) -> bool:
    if key not in RECORDS:
        return False
    if MUTANT == "ttl-ignored":
        return True
    deadline = EXPIRY.get(key)
    return deadline is None or time.time() < deadline


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    if MUTANT == "missing-field":
        return {k: v for k, v in rec.items() if k != "expires_at"}
    return rec


def _store(key: str, body: Any) -> tuple[dict[str, Any] | None, str | None]:
    if not KEY.fullmatch(key):
        return None, "key must be 1-256 letters, digits, hyphens or underscores"
    if not isinstance(body, dict) or "value" not in body:
        return None, "body must be an object with a value"
    ttl = body.get("ttl") or 0
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 0:
        return None, "ttl must be a non-negative integer"
    now = _now()
    rec = {
        "key": key,
        "value": body["value"],
        "created_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(seconds=ttl)).isoformat() if ttl else None,
    }
    with LOCK:
        RECORDS[key] = rec
        if ttl:
            EXPIRY[key] = time.time() + ttl
        else:
            EXPIRY.pop(key, None)
    return rec, None


def put(key: str, *, query: dict[str, str], body: Any) -> Reply:
    rec, problem = _store(key, body)
    if rec is None:
        return 400, {"error": problem}
    return (200 if MUTANT == "wrong-status" else 201), _public(rec)


def get(key: str, *, query: dict[str, str], body: Any) -> Reply:
    return (200, _public(RECORDS[key])) if _alive(key) else (404, {"error": "key not found"})


def delete(key: str, *, query: dict[str, str], body: Any) -> Reply:
    if not _alive(key):
        return 404, {"error": "key not found"}
    with LOCK:
        RECORDS.pop(key, None)
        EXPIRY.pop(key, None)
    return 204, None


def list_keys(*, query: dict[str, str], body: Any) -> Reply:
    prefix = query.get("prefix", "")
    limit = min(int(query.get("limit", 100)), 1000)
    keys = sorted(k for k in list(RECORDS) if _alive(k))
    if MUTANT != "broken-pagination":
        keys = [k for k in keys if k.startswith(prefix)][:limit]
    return 200, {"keys": keys, "count": len(keys)}


def bulk(*, query: dict[str, str], body: Any) -> Reply:
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        return 400, {"error": "records must be an array"}
    if len(records) > 100:
        return 400, {"error": "at most 100 records per request"}
    created, errors = 0, []
    for item in records:
        key = str(item.get("key", "")) if isinstance(item, dict) else ""
        rec, problem = _store(key, item)
        if rec is None:
            errors.append({"key": key, "error": problem})
        else:
            created += 1
    return 200, {"created": created, "errors": errors}


def health(*, query: dict[str, str], body: Any) -> Reply:
    return 200, {"status": "ok"}


if __name__ == "__main__":
    serve(
        [
            ("GET", re.compile(r"/health"), health),
            ("POST", re.compile(r"/kv/_bulk"), bulk),
            ("GET", re.compile(r"/kv"), list_keys),
            ("PUT", re.compile(r"/kv/([^/]*)"), put),
            ("GET", re.compile(r"/kv/([^/]*)"), get),
            ("DELETE", re.compile(r"/kv/([^/]*)"), delete),
        ]
    )

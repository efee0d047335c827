"""One ledger event and how its hash is computed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from assay.ledger.canonical import canonical, sha256_hex

__all__ = ["Event"]

_FIELDS = ("seq", "run_id", "kind", "time", "step", "payload", "prev_hash")
_TYPES: dict[str, tuple[type, ...]] = {
    "seq": (int,), "run_id": (str,), "kind": (str,), "time": (str,),
    "step": (str, type(None)), "payload": (dict,), "prev_hash": (str,), "hash": (str,),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Event:
    """An entry of the ledger: immutable, chained to the one before it by `prev_hash`.

    `hash` is the SHA-256 of the RFC 8785 canonical JSON of every other field (`body`).
    """

    seq: int
    """1-based position in the run's ledger; consecutive, no gaps."""
    run_id: str
    kind: str
    """What happened, e.g. ``run.started``, ``message``, ``gate.result``, ``checkpoint``."""
    time: str
    """UTC time of the append, ISO 8601 with microseconds and a ``Z``."""
    step: str | None
    """Idempotency key of a completed step, or None."""
    payload: dict[str, Any]
    prev_hash: str
    """`hash` of the previous event; `GENESIS` for the first."""
    hash: str

    def body(self) -> dict[str, Any]:
        """Everything the hash covers, as a dict."""
        return {name: getattr(self, name) for name in _FIELDS}

    def canonical_body(self) -> bytes:
        """The bytes the hash is computed over."""
        return canonical(self.body())

    def to_dict(self) -> dict[str, Any]:
        """The body plus the hash (the shape of one line of a JSON Lines export)."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_body(cls, body: bytes, hash_: str) -> Event:
        """Decode a stored body; ValueError when it is not a well-formed event."""
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"event body is not JSON: {exc}") from None
        return cls.from_dict({**_as_dict(data), "hash": hash_})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        """Build from `to_dict` output; ValueError names a missing or mistyped field."""
        for name, allowed in _TYPES.items():
            if name not in data:
                raise ValueError(f"event has no '{name}'")
            if not isinstance(data[name], allowed) or isinstance(data[name], bool):
                raise ValueError(f"event field '{name}' has the wrong type")
        extra = data.keys() - _TYPES.keys()
        if extra:
            raise ValueError(f"event has unknown fields: {', '.join(sorted(extra))}")
        return cls(**{name: data[name] for name in _TYPES})

    @staticmethod
    def compute_hash(body: dict[str, Any]) -> str:
        """The hash of an event body given as a dict."""
        return sha256_hex(canonical(body))


def _as_dict(data: object) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError("event body is not a JSON object")
    return data

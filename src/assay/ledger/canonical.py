"""Canonical JSON (RFC 8785, JCS) and the SHA-256 digests computed over it."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

__all__ = ["GENESIS", "canonical", "sha256_hex"]

GENESIS = "0" * 64
"""The `prev_hash` of a ledger's first event."""


def canonical(value: Any) -> bytes:
    """`value` as RFC 8785 canonical JSON; ValueError names what cannot be represented."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise ValueError(f"not representable as canonical JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()

"""DSSE envelopes (Dead Simple Signing Envelope v1) signed with the assay key."""

from __future__ import annotations

import base64
import json
from typing import Any

from assay.ledger import Signer, verify_signature

__all__ = ["IN_TOTO_TYPE", "open_envelope", "pae", "sign_envelope"]

IN_TOTO_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload: bytes, signer: Signer, payload_type: str = IN_TOTO_TYPE) -> str:
    """A DSSE envelope around `payload`, as JSON text."""
    record = signer.sign(pae(payload_type, payload))
    envelope = {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode("ascii"),
        "signatures": [{"keyid": record["keyid"], "sig": record["sig"]}],
    }
    return json.dumps(envelope, indent=2)


def open_envelope(text: str, public_keys: dict[str, str]) -> tuple[Any, str | None]:
    """The decoded JSON payload and None, or (None, why) when it does not verify.

    `public_keys` maps key id -> base64 raw public key (the bundle's manifest signature has it).
    """
    try:
        env = json.loads(text)
        payload = base64.b64decode(env["payload"], validate=True)
        payload_type = str(env["payloadType"])
        signatures = list(env["signatures"])
    except (ValueError, KeyError, TypeError):
        return None, "not a DSSE envelope"
    if not signatures:
        return None, "the envelope is not signed"
    for sig in signatures:
        keyid = sig.get("keyid") if isinstance(sig, dict) else None
        if keyid not in public_keys:
            return None, f"signed by unknown key {keyid}"
        record = {"keyid": keyid, "public_key": public_keys[keyid], "sig": sig.get("sig")}
        problem = verify_signature(pae(payload_type, payload), record)
        if problem:
            return None, problem
    try:
        return json.loads(payload), None
    except ValueError:
        return None, "the payload is not JSON"

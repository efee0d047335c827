"""This user's own signing key and the keys they trust: the signer's and the verifier's side.

`load_or_create_signer` finds the key to sign with (``--key``, ``$ASSAY_SIGNING_KEY``, or the
default location, which alone is created on first use) and `create_key` makes one on request
(``assay key create``); either way a key assay creates is added to the trust store.

A valid signature only says *some* key signed; `assay verify` also asks whose. Without
``--trust KEYID`` it accepts the keys in the trust store,
``$XDG_CONFIG_HOME/assay/trusted-keys.json`` (``~/.config/assay/trusted-keys.json``), as
minisign, cosign and ``ssh-keygen -Y verify`` demand an allowed signer. Keys are added with
``assay trust add`` (a key id, a public key PEM such as a bundle's ``signing-key.pub``, or a
private key), and a key assay creates for this user when it is created: a user trusts their own
key, never one that arrives inside a bundle.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assay.errors import UserError
from assay.ledger.keys import (
    PASSWORD_ENV,
    Signer,
    config_dir,
    create_signer,
    key_exists,
    key_id_of,
    load_signer,
    named_key_path,
)

__all__ = [
    "TrustedKey",
    "add_trusted",
    "create_key",
    "load_or_create_signer",
    "load_trusted",
    "remove_trusted",
    "trust_store_path",
]

_KEY_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """One trusted signer: its key id, its public key when known, and a label."""

    key_id: str
    name: str = ""
    public_key: str = ""
    """Base64 of the raw 32-byte public key; empty when only the id was pinned."""


def load_or_create_signer(path: Path | None = None) -> Signer:
    """The key to sign with. One named by `path` or ``$ASSAY_SIGNING_KEY`` must exist (a typo is
    a `UserError`, not a new key); the default one is created, and trusted, on first use."""
    key_path, named_by = named_key_path(path)
    if named_by is not None or key_exists(key_path):
        return load_signer(key_path, named_by=named_by)
    try:
        return create_key(key_path)
    except UserError:
        if key_exists(key_path):  # another assay process created it first
            return load_signer(key_path)
        raise


def create_key(key_path: Path, *, name: str = "") -> Signer:
    """Create a key at `key_path` and trust it (it is this user's own)."""
    signer = create_signer(key_path)
    public = base64.b64encode(signer.public_raw).decode("ascii")
    _trust(TrustedKey(signer.key_id, name or f"own key {key_path}", public))
    return signer


def trust_store_path() -> Path:
    """Where the trusted keys are kept (beside the default signing key's folder)."""
    return config_dir() / "trusted-keys.json"


def load_trusted(path: Path | None = None) -> dict[str, TrustedKey]:
    """Trusted keys by key id; an absent store is empty, an unreadable one a `UserError`."""
    store = path or trust_store_path()
    try:
        raw: Any = json.loads(store.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{store}: not a readable trust store ({exc})") from None
    keys = raw.get("keys") if isinstance(raw, dict) else None
    if not isinstance(keys, dict):
        raise UserError(f'{store}: not a trust store (expected {{"keys": {{KEYID: ...}}}})')
    found = {}
    for key_id, entry in keys.items():
        if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
            raise UserError(f"{store}: {key_id!r} is not a key id (64 hex digits)")
        entry = entry if isinstance(entry, dict) else {}
        found[key_id] = TrustedKey(
            key_id, str(entry.get("name", "")), str(entry.get("public_key", ""))
        )
    return found


def add_trusted(source: str, name: str = "", *, path: Path | None = None) -> TrustedKey:
    """Trust the key `source` names: a key id, or a file with a public or private Ed25519 key."""
    return _trust(_parse(source, name), path)


def _trust(key: TrustedKey, path: Path | None = None) -> TrustedKey:
    store = path or trust_store_path()
    keys = load_trusted(store)
    keys[key.key_id] = TrustedKey(
        key.key_id,
        key.name or keys.get(key.key_id, key).name,
        key.public_key or keys.get(key.key_id, key).public_key,
    )
    _save(store, keys)
    return keys[key.key_id]


def remove_trusted(key_id: str, *, path: Path | None = None) -> bool:
    """Stop trusting `key_id` (a full id or a unique prefix of 8+ digits); False if not trusted."""
    store = path or trust_store_path()
    keys = load_trusted(store)
    matches = [k for k in keys if k.startswith(key_id.lower())] if len(key_id) >= 8 else []
    if len(matches) > 1:
        raise UserError(f"{key_id} matches {len(matches)} trusted keys; give more digits")
    if not matches:
        return False
    del keys[matches[0]]
    _save(store, keys)
    return True


def _parse(source: str, name: str) -> TrustedKey:
    if _KEY_ID.fullmatch(source.lower()):
        return TrustedKey(source.lower(), name)
    file = Path(source).expanduser()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"{source}: neither a key id (64 hex digits) nor a key file that exists"
        ) from None
    except OSError as exc:
        raise UserError(f"{source}: cannot read the key ({exc.strerror})") from None
    public = _public_key(file, data)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return TrustedKey(key_id_of(raw), name or file.stem, base64.b64encode(raw).decode("ascii"))


def _public_key(file: Path, data: bytes) -> Ed25519PublicKey:
    try:
        public: object = serialization.load_pem_public_key(data)
    except ValueError:
        password = os.environ.get(PASSWORD_ENV)
        try:
            private = serialization.load_pem_private_key(
                data, password=password.encode() if password else None
            )
        except (ValueError, TypeError) as exc:
            raise UserError(f"{file}: not a PEM Ed25519 key ({exc})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise UserError(f"{file}: not an Ed25519 key") from None
        return private.public_key()
    if not isinstance(public, Ed25519PublicKey):
        raise UserError(f"{file}: not an Ed25519 public key")
    return public


def _save(store: Path, keys: dict[str, TrustedKey]) -> None:
    """Write atomically, private to the user: the store decides what verifies."""
    store.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = {
        "keys": {
            k.key_id: {"name": k.name, "public_key": k.public_key}
            for k in sorted(keys.values(), key=lambda k: k.key_id)
        }
    }
    fd, tmp = tempfile.mkstemp(dir=store.parent, prefix=".trusted-keys.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, store)

"""Ed25519 signing keys: where they live, how they are made, and how signatures are checked.

Key resolution, first match wins:
1. an explicit path passed by the caller (a CLI ``--key`` flag);
2. ``$ASSAY_SIGNING_KEY``: path of a PEM (PKCS #8) private key;
3. ``$XDG_CONFIG_HOME/assay/keys/ed25519.pem`` (``~/.config/assay/keys/ed25519.pem``).

When the resolved file does not exist it is created (folder mode 0700, file mode 0600).
``$ASSAY_SIGNING_KEY_PASSWORD`` encrypts / decrypts it when set. The key id is the SHA-256 hex
of the raw 32-byte public key; signatures carry the public key so they verify offline, and a
verifier pins trust by key id (``assay verify --trust KEYID``).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from assay.errors import UserError
from assay.ledger.canonical import sha256_hex

__all__ = [
    "Signer",
    "default_key_path",
    "key_id_of",
    "load_or_create_signer",
    "verify_signature",
]

KEY_ENV = "ASSAY_SIGNING_KEY"
# The name of the environment variable that holds the key's password, not a password.
PASSWORD_ENV = "ASSAY_SIGNING_KEY_PASSWORD"  # noqa: S105  # nosec B105  # pragma: allowlist secret


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id_of(public_raw: bytes) -> str:
    """The key id: SHA-256 hex of the raw 32-byte Ed25519 public key."""
    return sha256_hex(public_raw)


@dataclass(frozen=True, slots=True)
class Signer:
    """A loaded private key that signs bytes."""

    private_key: Ed25519PrivateKey
    path: Path | None = None

    @property
    def public_raw(self) -> bytes:
        """The raw 32-byte public key."""
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        """SHA-256 hex of the raw public key."""
        return key_id_of(self.public_raw)

    def sign(self, data: bytes) -> dict[str, str]:
        """A detached signature record: ``{"keyid", "public_key", "sig"}`` (base64 fields)."""
        return {
            "keyid": self.key_id,
            "public_key": _b64(self.public_raw),
            "sig": _b64(self.private_key.sign(data)),
        }

    @classmethod
    def generate(cls) -> Signer:
        """A fresh in-memory key (tests, ephemeral runs)."""
        return cls(Ed25519PrivateKey.generate())


def verify_signature(data: bytes, record: Any) -> str | None:
    """None when `record` (from `Signer.sign`) is a valid signature over `data`, else why not."""
    if not isinstance(record, dict):
        return "signature record is not an object"
    try:
        public_raw = base64.b64decode(record["public_key"], validate=True)
        sig = base64.b64decode(record["sig"], validate=True)
        keyid = record["keyid"]
    except (KeyError, TypeError, ValueError):
        return "signature record is malformed"
    if keyid != key_id_of(public_raw):
        return "key id does not match the public key"
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(sig, data)
    except (InvalidSignature, ValueError):
        return f"bad signature by key {keyid[:16]}"
    return None


def default_key_path() -> Path:
    """Where the signing key is looked for when no path is given."""
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "assay" / "keys" / "ed25519.pem"


def load_or_create_signer(path: Path | None = None, *, create: bool = True) -> Signer:
    """Load the signing key (see the module docstring for where), creating it if allowed."""
    key_path = path if path is not None else default_key_path()
    password = os.environ.get(PASSWORD_ENV)
    secret = password.encode() if password else None
    if not key_path.exists():
        if not create:
            raise UserError(f"no signing key at {key_path}; set ${KEY_ENV} or create one")
        return _create(key_path, secret)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=secret)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{key_path}: not a usable PEM private key ({exc})") from None
    except OSError as exc:
        raise UserError(f"{key_path}: cannot read the signing key ({exc.strerror})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{key_path}: not an Ed25519 key")
    return Signer(key, key_path)


def _create(key_path: Path, secret: bytes | None) -> Signer:
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except FileExistsError:
        return load_or_create_signer(key_path, create=False)
    except OSError as exc:
        raise UserError(f"{key_path}: cannot create the signing key ({exc.strerror})") from None
    return Signer(key, key_path)

"""Ed25519 signing keys: where they live, how they are made, and how signatures are checked.

Key resolution, first match wins (`named_key_path`):
1. an explicit path passed by the caller (a CLI ``--key`` flag);
2. ``$ASSAY_SIGNING_KEY``: path of a PEM (PKCS #8) private key;
3. ``$XDG_CONFIG_HOME/assay/keys/ed25519.pem`` (``~/.config/assay/keys/ed25519.pem``).

A key named by 1 or 2 must exist: a mistyped path is an error, never a new key. Only the default
location is created on first use (``assay.ledger.keyring``). ``$ASSAY_SIGNING_KEY_PASSWORD``
encrypts / decrypts it when set. The key id is the SHA-256 hex
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
    "config_dir",
    "create_signer",
    "default_key_path",
    "key_exists",
    "key_id_of",
    "load_signer",
    "named_key_path",
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


def config_dir() -> Path:
    """This user's assay config folder: ``$XDG_CONFIG_HOME/assay`` (``~/.config/assay``)."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "assay"


def default_key_path() -> Path:
    """Where this user's own key lives: ``$XDG_CONFIG_HOME/assay/keys/ed25519.pem``."""
    return config_dir() / "keys" / "ed25519.pem"


def named_key_path(path: Path | None = None) -> tuple[Path, str | None]:
    """The key path to use, and what named it (``--key``, ``$ASSAY_SIGNING_KEY``, or None for the
    default location)."""
    if path is not None:
        return path.expanduser(), "--key"
    env = os.environ.get(KEY_ENV)
    if env:
        return Path(env).expanduser(), f"${KEY_ENV}"
    return default_key_path(), None


def load_signer(key_path: Path, *, named_by: str | None = None) -> Signer:
    """Load the PEM Ed25519 key at `key_path`; a `UserError` says why when it cannot."""
    password = os.environ.get(PASSWORD_ENV)
    secret = password.encode() if password else None
    if not key_exists(key_path):
        origin = f" (named by {named_by})" if named_by else ""
        raise UserError(
            f"no signing key at {key_path}{origin}; create one with `assay key create {key_path}`"
        )
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=secret)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{key_path}: not a usable PEM private key ({exc})") from None
    except OSError as exc:
        raise UserError(f"{key_path}: cannot read the signing key ({exc.strerror})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError(f"{key_path}: not an Ed25519 key")
    return Signer(key, key_path)


def key_exists(key_path: Path) -> bool:
    """Whether a key file is there; a folder that cannot be searched is a `UserError`."""
    try:
        return key_path.exists()
    except OSError as exc:
        raise UserError(f"{key_path}: cannot look for the signing key ({exc.strerror})") from None


def create_signer(key_path: Path) -> Signer:
    """Create a new key file at `key_path` (folder 0700, file 0600, never over an existing file).

    `UserError` when something is already there; ``$ASSAY_SIGNING_KEY_PASSWORD`` encrypts it.
    """
    password = os.environ.get(PASSWORD_ENV)
    secret = password.encode() if password else None
    key = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
    except FileExistsError:
        raise UserError(f"{key_path} exists already; not replacing a key") from None
    except OSError as exc:
        raise UserError(f"{key_path}: cannot create the signing key ({exc.strerror})") from None
    return Signer(key, key_path)

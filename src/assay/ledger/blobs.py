"""Content-addressed blobs beside the ledger: ``blobs/<first 2 hex>/<sha256 hex>``."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from assay.errors import RunError
from assay.ledger.canonical import sha256_hex

__all__ = ["BlobStore", "is_digest"]

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def is_digest(value: object) -> bool:
    """True for a lower-case hex SHA-256."""
    return isinstance(value, str) and bool(_DIGEST.match(value))


class BlobStore:
    """Write-once files named by the SHA-256 of their content; durable before `put` returns."""

    __slots__ = ("root",)

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where the blob with `digest` lives (it may not exist)."""
        if not is_digest(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` (fsynced) and return its digest; storing it again is a no-op."""
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return digest

    def get(self, digest: str) -> bytes:
        """The blob's bytes; RunError when missing or when its content no longer matches."""
        target = self.path(digest)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise RunError(f"blob {digest} is missing from {self.root}") from None
        if sha256_hex(data) != digest:
            raise RunError(f"blob {target} was modified: its content no longer matches its name")
        return data

    def __contains__(self, digest: object) -> bool:
        return is_digest(digest) and self.path(str(digest)).is_file()

    def __iter__(self) -> Iterator[Path]:
        """Every stored blob file, sorted."""
        if not self.root.is_dir():
            return iter(())
        return iter(sorted(p for p in self.root.glob("*/*") if not p.name.startswith(".tmp-")))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

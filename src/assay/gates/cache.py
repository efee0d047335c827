"""The gate cache under ``.assay/cache``: findings keyed by the content of what a gate read.

A whole-project gate is skipped when the digest of all its inputs matches. A per-file gate keeps
findings per file, so only files whose content changed are scanned again.

A run on some files only (``assay gate FILE...``) shares a per-file gate's entry: it rescans the
named files that changed and keeps every other file's findings, each still checked against its
digest. A whole-project gate run on some files (mypy) is stored in a slot of its own
(``<gate>@selection``), keyed by the whole project's inputs and the files named, so it neither
reuses nor replaces the whole-project result.

The cache lives in the project, where anyone who can write a file (or commit one) can write an
entry saying "no findings". So each entry is authenticated: an HMAC-SHA256 over its slot and
canonical JSON, with a key that lives outside every project (`assay.state.private_key`). An
entry that does not verify (edited, copied from another machine, committed to git, written by
an older assay) is not used, and `load` says so; the gate then scans again.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from assay.errors import UserError
from assay.gates.base import Finding
from assay.state import private_key

__all__ = ["KEY_NAME", "CacheLookup", "CachedFile", "GateCache", "GateCacheEntry", "entry_mac"]

KEY_NAME = "gate-cache.key"
"""The key's file name in the user's state folder."""

_CONTEXT = b"assay gate cache v1\0"


class CachedFile(BaseModel):
    """Findings for one file at one content digest."""

    sha: str
    findings: list[Finding] = Field(default_factory=list)


class GateCacheEntry(BaseModel):
    """What is stored for one gate."""

    key: str
    """Digest of the gate's name, tool version, options and config files (and, for whole-project
    gates, every input's content)."""
    files: dict[str, CachedFile] = Field(default_factory=dict)
    """Per-file gates: findings by relative path (after a run on some files, also the entries of
    files that run did not look at)."""
    findings: list[Finding] = Field(default_factory=list)
    """Whole-project gates, and project-level findings of per-file gates."""
    raw_report: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CacheLookup:
    """What `GateCache.load` found: an entry to reuse, or why a stored one was not used."""

    entry: GateCacheEntry | None = None
    rejected: str | None = None
    """Set when an entry was there but could not be trusted (shown to the user)."""


def entry_mac(key: bytes, gate: str, data: Mapping[str, Any]) -> str:
    """The HMAC-SHA256 (hex) of the entry `data` stored in `gate`'s slot.

    The slot is part of what is signed, so one gate's entry cannot be moved into another's.
    """
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    message = _CONTEXT + gate.encode() + b"\0" + canonical.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class GateCache:
    """One JSON file per gate, ``{"mac": ..., "entry": ...}``; writes are atomic, so a killed run
    never leaves a torn entry, and never go through a link."""

    def __init__(self, directory: Path, key: bytes) -> None:
        self.directory = directory
        self._key = key

    @classmethod
    def for_user(cls, directory: Path) -> GateCache:
        """The cache in `directory`, authenticated with this user's key (made on first use).

        Raises `OSError` when the state folder is unusable and `UserError` for an untrusted key.
        """
        return cls(directory, private_key(KEY_NAME))

    def _path(self, gate: str) -> Path:
        return self.directory / f"{gate}.json"

    def load(self, gate: str, key: str) -> CacheLookup:
        """The entry for `gate` if it is authentic and was stored under `key`."""
        path = self._path(gate)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return CacheLookup()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return CacheLookup(rejected=f"cache entry {path} is a symbolic link: ignored")
            return CacheLookup()
        with os.fdopen(fd, encoding="utf-8") as fh:
            text = fh.read()
        try:
            stored: Any = json.loads(text)
        except ValueError:
            stored = None
        data = stored.get("entry") if isinstance(stored, dict) else None
        mac = stored.get("mac") if isinstance(stored, dict) else None
        if (
            not isinstance(data, dict)
            or not isinstance(mac, str)
            or not hmac.compare_digest(mac, entry_mac(self._key, gate, data))
        ):
            return CacheLookup(rejected=_unauthenticated(path))
        try:
            entry = GateCacheEntry.model_validate(data)
        except ValidationError:  # ours, from an assay whose entries had another shape: stale
            return CacheLookup()
        return CacheLookup(entry if entry.key == key else None)

    def store(self, gate: str, entry: GateCacheEntry) -> None:
        """Write `entry` with its MAC, replacing what was there (a link is replaced, never
        followed)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.directory.is_symlink():
            raise UserError(f"{self.directory} is a symbolic link: assay does not write through it")
        data = entry.model_dump(mode="json")
        text = json.dumps({"mac": entry_mac(self._key, gate, data), "entry": data})
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{gate}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self._path(gate))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _unauthenticated(path: Path) -> str:
    return (
        f"cache entry {path} is not authenticated by this user's key (edited, copied from "
        "another machine or committed?): ignored, scanned again"
    )

"""The gate cache under ``.assay/cache``: findings keyed by the content of what a gate read.

A whole-project gate is skipped when the digest of all its inputs matches. A per-file gate keeps
findings per file, so only files whose content changed are scanned again.

A run on some files only (``assay gate FILE...``) shares a per-file gate's entry: it rescans the
named files that changed and keeps every other file's findings, each still checked against its
digest. A whole-project gate run on some files (mypy) is stored in a slot of its own
(``<gate>@selection``), keyed by the whole project's inputs and the files named, so it neither
reuses nor replaces the whole-project result.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from assay.gates.base import Finding

__all__ = ["CachedFile", "GateCache", "GateCacheEntry"]


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


class GateCache:
    """One JSON file per gate; writes are atomic so a killed run never leaves a torn cache."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, gate: str) -> Path:
        return self.directory / f"{gate}.json"

    def load(self, gate: str, key: str) -> GateCacheEntry | None:
        """The entry for `gate` if it was stored under `key`."""
        try:
            raw: Any = json.loads(self._path(gate).read_text(encoding="utf-8"))
            entry = GateCacheEntry.model_validate(raw)
        except (OSError, ValueError, ValidationError):
            return None
        return entry if entry.key == key else None

    def store(self, gate: str, entry: GateCacheEntry) -> None:
        """Write `entry`, replacing what was there."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{gate}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(entry.model_dump_json())
        os.replace(tmp, self._path(gate))

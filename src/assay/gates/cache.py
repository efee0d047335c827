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

Besides the store, this module holds how the runner uses it: `cache_key` (what a gate's findings
depend on), and for per-file gates `stale_files`, `merge_per_file` (fresh findings merged with
the cached ones, in file order) and `per_file_entry` (what is stored afterwards).
"""

from __future__ import annotations

import errno
import functools
import hashlib
import hmac
import json
import os
import sys
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

import assay
from assay.errors import UserError
from assay.gates.base import Finding, Gate, Scan
from assay.gates.collect import FileHashes
from assay.state import private_key

__all__ = [
    "KEY_NAME",
    "TOOL_CONFIG_FILES",
    "CacheLookup",
    "CachedFile",
    "GateCache",
    "GateCacheEntry",
    "cache_key",
    "code_digest",
    "conclusive",
    "entry_from",
    "entry_mac",
    "in_file_order",
    "merge_per_file",
    "not_cached",
    "per_file_entry",
    "scan_from",
    "split_by_file",
    "stale_files",
]

KEY_NAME = "gate-cache.key"
"""The key's file name in the user's state folder."""

_CONTEXT = b"assay gate cache v1\0"

# Config files most Python tools read; a change to one invalidates every cached finding.
TOOL_CONFIG_FILES = (
    "pyproject.toml", "setup.cfg", "tox.ini", "ruff.toml", ".ruff.toml", "mypy.ini",
    ".mypy.ini", ".bandit", ".coveragerc", "pytest.ini", ".secrets.baseline",
)  # fmt: skip


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


# -- how the runner uses the cache --------------------------------------------------------------


def cache_key(
    gate: Gate,
    version: str,
    options: Mapping[str, Any],
    hashes: FileHashes,
    configs: Sequence[str],
    inputs: Sequence[str],
    whole_inputs: Sequence[str] | None = None,
) -> str:
    """The key `gate`'s findings are stored under: its name, tool version, code, options and
    config files; a whole-project gate's also every input's content. `whole_inputs`: for a
    whole-project gate run on a selection, the whole project's inputs (what the tool reads)."""
    payload = json.dumps(
        [gate.name, version, code_digest(type(gate)), options, hashes.combined(configs)],
        sort_keys=True,
        default=str,
    )
    base = hashlib.sha256(payload.encode()).hexdigest()
    if gate.per_file:
        return base
    if whole_inputs is not None:
        # The tool reads what the selected files import: every project input counts.
        everything = hashes.combined(whole_inputs)
        picked = json.dumps(sorted(inputs))
        return hashlib.sha256(f"{base}:{everything}:{picked}".encode()).hexdigest()
    return hashlib.sha256(f"{base}:{hashes.combined(inputs)}".encode()).hexdigest()


@functools.cache
def code_digest(gate_class: type) -> str:
    """assay's version and the source of the modules defining `gate_class` and its bases.

    A gate's findings depend on how it reads its tool's output (and what it drops, e.g. the
    secrets gate's pinned revisions), so a changed gate invalidates what it cached before.
    """
    digest = hashlib.sha256(assay.__version__.encode())
    for name in dict.fromkeys(cls.__module__ for cls in gate_class.__mro__):
        source = getattr(sys.modules.get(name), "__file__", None)
        if source is None or name in ("builtins", "typing"):
            continue
        try:
            digest.update(Path(source).read_bytes())
        except OSError:
            digest.update(source.encode())
    return digest.hexdigest()


def conclusive(scan: Scan) -> bool:
    """A scan worth caching: the tool ran and reached a verdict."""
    return scan.error is None and scan.not_evaluated is None


def not_cached(gate: str, moved: Sequence[str]) -> str:
    """The note for a scan not cached because `moved` changed while `gate` ran."""
    shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
    return f"{shown} changed while {gate} ran: not cached (the next run scans again)"


def scan_from(entry: GateCacheEntry, findings: list[Finding]) -> Scan:
    """A cached scan: `findings`, with the entry's report and metrics."""
    raw = Path(entry.raw_report) if entry.raw_report else None
    return Scan(findings=findings, raw_report=raw, metrics=entry.metrics)


def entry_from(key: str, scan: Scan) -> GateCacheEntry:
    """The entry storing `scan` under `key`."""
    return GateCacheEntry(
        key=key,
        findings=scan.findings,
        raw_report=str(scan.raw_report) if scan.raw_report else None,
        metrics=scan.metrics,
    )


def in_file_order(inputs: list[str], files: Mapping[str, CachedFile]) -> list[Finding]:
    """The findings of each of `inputs`, file by file."""
    return [x for f in inputs for x in files[f].findings]


def split_by_file(
    findings: list[Finding], files: list[str]
) -> tuple[dict[str, list[Finding]], list[Finding]]:
    """Findings grouped by each of `files`, and the rest (project-level)."""
    by_file: dict[str, list[Finding]] = {f: [] for f in files}
    rest: list[Finding] = []
    for finding in findings:
        by_file.get(finding.file, rest).append(finding)
    return by_file, rest


def stale_files(
    inputs: list[str], known: Mapping[str, CachedFile], hashes: FileHashes
) -> list[str]:
    """Inputs with no cached findings at their current content."""
    return [f for f in inputs if f not in known or known[f].sha != hashes[f]]


def merge_per_file(
    inputs: list[str],
    stale: list[str],
    known: Mapping[str, CachedFile],
    scan: Scan,
    hashes: FileHashes,
) -> tuple[Scan, dict[str, CachedFile], list[Finding]]:
    """A per-file gate's `scan` of its `stale` inputs merged with the cached findings of the
    rest: the scan of every input, in file order, then the project-level findings; each input's
    cached file; the project-level findings."""
    fresh, project_level = split_by_file(scan.findings, stale)
    updated = {f: CachedFile(sha=hashes[f], findings=fresh[f]) for f in stale}
    files = {f: updated.get(f) or known[f] for f in inputs}
    merged = Scan(
        findings=in_file_order(inputs, files) + project_level,
        raw_report=scan.raw_report,
        metrics=scan.metrics,
    )
    return merged, files, project_level


def per_file_entry(
    key: str,
    merged: Scan,
    files: Mapping[str, CachedFile],
    known: Mapping[str, CachedFile],
    project_level: list[Finding],
    *,
    selection: bool,
    moved: Collection[str],
) -> GateCacheEntry:
    """What a per-file gate stores after `merge_per_file`.

    A whole-project run forgets files that are gone; a run on a selection keeps the entries of
    the files it did not look at (each is checked against its digest). A file that changed while
    the tool ran (`moved`) keeps no entry: nobody knows what it read.
    """
    kept = {**known, **files} if selection else dict(files)
    kept = {f: cached for f, cached in kept.items() if f not in moved}
    stored = entry_from(key, merged)
    return stored.model_copy(update={"files": kept, "findings": project_level})

"""The secrets gate: detect-secrets over every non-excluded file, per file, failing closed.

A project's ``.secrets.baseline`` (detect-secrets' own format) is honoured read-only: a secret
recorded there for the same file is a known, accepted one and is not reported again.

The gate fails closed: passing means every candidate file was scanned. detect-secrets silently
ignores a file it cannot open or decode, so each file is checked first, and one that cannot be
read, is larger than ``max_bytes`` or is not UTF-8 text is an ``unscanned-file`` finding (high)
instead of a silent pass. NUL bytes alone do not stop a scan: a NUL-prefixed ``.env`` is scanned.
The files detect-secrets skips by name (extensions such as ``.png`` or ``.svg``, lock files,
swagger files) are not candidates; they are listed as skipped in the gate's result.

One false positive is dropped, narrowly: detect-secrets' hex-entropy check flags the commit SHA a
``.pre-commit-config.yaml`` pins a hook repository to (``rev: <40 hex digits>``, as ``pre-commit
autoupdate --freeze`` writes it). Only that detector, only in that file, only on a line that is
nothing but such a ``rev:`` (and an optional comment), and only when the flagged value is the SHA
itself. Every other finding in the file is still reported. detect-secrets reports a value once per
file, at its first line; when the pinned SHA also appears elsewhere in the file (as a token, say),
the finding is kept and moved to that line.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.gates._tool import PythonToolGate, find_tool, relative, run_json_report
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName, SkippedFile

__all__ = ["SecretsGate", "SecretsOptions"]

_BASELINE = ".secrets.baseline"

# Files whose `rev:` lines pin git commits, by file name; the pattern of such a line.
_PIN_FILES = frozenset({".pre-commit-config.yaml", ".pre-commit-config.yml"})
_PINNED_REV = re.compile(r"""^\s*(?:-\s+)?rev:\s*(["']?)([0-9a-f]{40})\1\s*(?:#.*)?$""")
_HEX_ENTROPY = "Hex High Entropy String"
_UNSCANNED = "unscanned-file"


class SecretsOptions(BaseModel):
    """Options for ``[tool.assay.gates.secrets]``."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(default=1_000_000, gt=0)
    """Files larger than this are not scanned, and each is a finding (the gate fails closed)."""
    disable_plugins: list[str] = []
    """detect-secrets plugin class names to turn off, e.g. ``["HexHighEntropyString"]``."""


class SecretsGate(PythonToolGate):
    """detect-secrets scan over each text file."""

    name = "secrets"
    tool = "detect-secrets"
    executable = "detect-secrets"
    distribution = "detect-secrets"
    cost = 2
    per_file = True
    default_fail_on: SeverityName = "low"
    options_model = SecretsOptions

    def applies(self, ctx: GateContext) -> bool:
        """Any file to scan (a secret in a staged YAML file counts without any Python)."""
        return bool(self.inputs(ctx))

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every non-excluded file but the baseline and those detect-secrets skips by name."""
        return [f for f in ctx.all_files if f != _BASELINE and _skipped_by_name(f) is None]

    def skipped(self, ctx: GateContext) -> Sequence[SkippedFile]:
        """The files detect-secrets would skip by their name, listed so nothing is silent."""
        return [
            SkippedFile(path=f, reason=reason)
            for f in ctx.all_files
            if f != _BASELINE and (reason := _skipped_by_name(f)) is not None
        ]

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The detect-secrets command line for `files`."""
        argv = [find_tool(self.executable)]
        if ctx.workers:  # its own process pool, one per core unless told: the runner's slots
            argv += ["--cores", str(ctx.workers)]
        argv.append("scan")
        for plugin in ctx.options["disable_plugins"]:
            argv += ["--disable-plugin", plugin]
        return [*argv, *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Scan `files` and report each potential secret, and each file that cannot be scanned."""
        limit = int(ctx.options["max_bytes"])
        unscanned = {f: why for f in files if (why := _unscannable(ctx.root / f, limit))}
        findings = [_unscanned(f, why) for f, why in unscanned.items()]
        readable = [f for f in files if f not in unscanned]
        if not readable:
            return Scan(findings=findings)
        # UTF-8 mode: detect-secrets then decodes exactly what `_unscannable` accepted.
        out = await run_json_report(
            self.argv(ctx, readable), ctx, "detect-secrets.json", env={"PYTHONUTF8": "1"}
        )
        if out.error is not None:
            return Scan(error=out.error)
        data, report = out.data, out.path
        known = _baseline(ctx.root / _BASELINE)
        pins = _Pins(ctx.root)
        findings += [
            _finding(ctx.root, kept)
            for items in data.get("results", {}).values()
            for item in items
            if (item.get("filename"), item.get("hashed_secret")) not in known
            and (kept := pins.unpinned(item)) is not None
        ]
        return Scan(findings=findings, raw_report=report)


class _Pins:
    """Recognises the commit SHA of a pinned ``rev:`` in a pre-commit config (see above)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lines: dict[str, list[str]] = {}

    def unpinned(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """detect-secrets' `item`, None when it is only a pinned ``rev:``, or moved off the pin.

        A value is reported once per file, at its first line: if the pinned SHA also stands
        elsewhere, the finding moves to the first line where it is not a pin.
        """
        name = str(item.get("filename", ""))
        if item.get("type") != _HEX_ENTROPY or Path(name).name not in _PIN_FILES:
            return item
        lines = self._read(name)
        number = int(item.get("line_number") or 0)
        match = _PINNED_REV.match(lines[number - 1]) if 0 < number <= len(lines) else None
        if match is None:
            return item
        sha = match.group(2)
        # detect-secrets records the SHA-1 of the flagged value: it must be the pin itself.
        flagged = hashlib.sha1(sha.encode(), usedforsecurity=False).hexdigest()
        if flagged != item.get("hashed_secret"):
            return item
        for at, text in enumerate(lines, start=1):
            pin = _PINNED_REV.match(text)
            if sha in text and (pin is None or pin.group(2) != sha):
                return {**item, "line_number": at}
        return None

    def _read(self, name: str) -> list[str]:
        if name not in self._lines:
            try:
                text = (self._root / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            self._lines[name] = text.splitlines()
        return self._lines[name]


def _skipped_by_name(rel: str) -> str | None:
    """Why detect-secrets would skip `rel` by its name (its own default filters), or None."""
    from detect_secrets.filters import heuristic  # 0.1 s of imports: only when the gate runs

    if heuristic.is_non_text_file(rel):
        return f"detect-secrets does not scan {Path(rel).suffix} files (skipped by extension)"
    if heuristic.is_lock_file(rel):
        return "detect-secrets does not scan lock files"
    if heuristic.is_swagger_file(rel):
        return "detect-secrets does not scan swagger files"
    return None


def _unscannable(path: Path, limit: int) -> str | None:
    """Why detect-secrets could not scan `path` (it would skip it without a word), or None."""
    try:
        size = path.stat().st_size
        if size > limit:
            return f"{size} bytes is larger than max_bytes ({limit})"
        data = path.read_bytes()
    except OSError as exc:
        return f"it could not be read: {exc.strerror}"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "it is not UTF-8 text"
    return None


def _unscanned(rel: str, why: str) -> Finding:
    return Finding(
        gate="secrets",
        rule_id=_UNSCANNED,
        severity="high",
        file=rel,
        message=f"not scanned for secrets: {why} (exclude the file, or waive this finding)",
        rule=RuleInfo(
            name=_UNSCANNED,
            summary="A file the secrets gate could not scan; it fails closed rather than pass.",
            security=True,
        ),
    )


def _baseline(path: Path) -> set[tuple[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    results = data.get("results", {}) if isinstance(data, dict) else {}
    return {
        (str(item.get("filename")), str(item.get("hashed_secret")))
        for items in results.values()
        for item in items
    }


def _rule(kind: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "secret"


def _finding(root: Path, item: dict[str, Any]) -> Finding:
    kind = str(item.get("type", "secret"))
    return Finding(
        gate="secrets",
        rule_id=_rule(kind),
        severity="high",
        file=relative(root, str(item.get("filename", ""))),
        line=int(item.get("line_number") or 0),
        message=f"possible secret: {kind} (hashed {str(item.get('hashed_secret', ''))[:12]})",
        # detect-secrets names the kind of secret; a credential in a file is CWE-798.
        rule=RuleInfo(name=kind, summary=f"A possible secret: {kind}.", security=True, cwe=(798,)),
    )

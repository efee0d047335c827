"""The secrets gate: detect-secrets over every non-excluded text file, per file.

A project's ``.secrets.baseline`` (detect-secrets' own format) is honoured read-only: a secret
recorded there for the same file is a known, accepted one and is not reported again. Binary files
and files larger than ``max_bytes`` are skipped.

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
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName

__all__ = ["SecretsGate", "SecretsOptions"]

_BASELINE = ".secrets.baseline"

# Files whose `rev:` lines pin git commits, by file name; the pattern of such a line.
_PIN_FILES = frozenset({".pre-commit-config.yaml", ".pre-commit-config.yml"})
_PINNED_REV = re.compile(r"""^\s*(?:-\s+)?rev:\s*(["']?)([0-9a-f]{40})\1\s*(?:#.*)?$""")
_HEX_ENTROPY = "Hex High Entropy String"


class SecretsOptions(BaseModel):
    """Options for ``[tool.assay.gates.secrets]``."""

    model_config = ConfigDict(extra="forbid")

    max_bytes: int = Field(default=1_000_000, gt=0)
    """Files larger than this are not scanned."""
    disable_plugins: list[str] = []
    """detect-secrets plugin class names to turn off, e.g. ``["HexHighEntropyString"]``."""


class SecretsGate(PythonToolGate):
    """detect-secrets scan over each text file."""

    name = "secrets"
    tool = "detect-secrets"
    executable = "detect-secrets"
    cost = 2
    per_file = True
    default_fail_on: SeverityName = "low"
    options_model = SecretsOptions

    def applies(self, ctx: GateContext) -> bool:
        """Any text file to scan (a secret in a staged YAML file counts without any Python)."""
        limit = int(ctx.options["max_bytes"])
        return any(f != _BASELINE and _is_text(ctx.root / f, limit) for f in ctx.all_files)

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every non-excluded text file no larger than ``max_bytes``."""
        limit = int(ctx.options["max_bytes"])
        return [f for f in ctx.all_files if f != _BASELINE and _is_text(ctx.root / f, limit)]

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The detect-secrets command line for `files`."""
        argv = [find_tool(self.executable), "scan"]
        for plugin in ctx.options["disable_plugins"]:
            argv += ["--disable-plugin", plugin]
        return [*argv, *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Scan `files` and report each potential secret."""
        out = await run_json_report(self.argv(ctx, files), ctx, "detect-secrets.json")
        if out.error is not None:
            return Scan(error=out.error)
        data, report = out.data, out.path
        known = _baseline(ctx.root / _BASELINE)
        pins = _Pins(ctx.root)
        findings = [
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


def _is_text(path: Path, limit: int) -> bool:
    try:
        if path.stat().st_size > limit:
            return False
        with path.open("rb") as fh:
            return b"\0" not in fh.read(8192)
    except OSError:
        return False


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

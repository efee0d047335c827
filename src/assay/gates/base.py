"""The gate contract: what a gate is given and what it returns.

A gate drives one tool over a workspace and turns the tool's machine-readable output into
`Finding`s. The runner (`assay.gates.runner`) decides ordering, caching and the status under the
policy; a gate only scans. The models a gate's results are made of (`Finding`, `GateResult`...)
are defined in `assay.vocabulary` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

# The shared models live at the bottom of the layers (`assay.vocabulary`); this module is the
# public path gate plugins import them from, so it re-exports them.
from assay.vocabulary import (
    Confidence,
    Finding,
    GateReport,
    GateResult,
    GateStatus,
    RuleInfo,
    Severity,
    SeverityName,
    SkippedFile,
    fingerprint,
)

__all__ = [
    "Confidence",
    "Finding",
    "Gate",
    "GateContext",
    "GateReport",
    "GateResult",
    "GateStatus",
    "RuleInfo",
    "Scan",
    "Severity",
    "SeverityName",
    "SkippedFile",
    "fingerprint",
]


@dataclass(frozen=True, slots=True)
class GateContext:
    """Everything a gate may look at for one scan."""

    root: Path
    """The project root being gated (absolute)."""
    files: tuple[str, ...]
    """Python files under `root`, relative, forward slashes, sorted; excludes applied."""
    options: dict[str, Any]
    """The gate's own options from the policy (already validated)."""
    report_dir: Path
    """Where the gate writes the tool's raw report."""
    all_files: tuple[str, ...] = ()
    """Every non-excluded file under `root` (for gates that read more than Python)."""
    tool_cache: Path | None = None
    """A folder the tool may keep its own incremental cache in; None when caching is off."""
    skipped: tuple[SkippedFile, ...] = ()
    """Files the walk found but no gate may read (links out of the project, broken links...)."""
    workers: int = 0
    """How many worker slots the runner holds for this run of the tool: a tool that starts
    processes or threads of its own (semgrep's ``--jobs``, detect-secrets' ``--cores``, ruff's
    threads) keeps to that many; 0: the runner does not say (the older schedule), the tool
    decides."""


@dataclass(slots=True)
class Scan:
    """What `Gate.scan` returns: findings, plus how the tool fared."""

    findings: list[Finding] = field(default_factory=list)
    raw_report: Path | None = None
    error: str | None = None
    """Set when the tool crashed or could not run; the gate then reports ``error``."""
    not_evaluated: str | None = None
    """Set when the gate could not reach a verdict honestly (e.g. offline)."""
    metrics: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Gate(Protocol):
    """A quality gate. Built-in and third-party gates satisfy the same protocol.

    Optional attributes the runner also reads: ``options_model`` (a pydantic model validating the
    gate's own policy keys), ``default_required`` (False makes the gate advisory by default),
    ``config_files(ctx) -> Sequence[str]`` (extra files whose content is part of the cache key) and
    ``skipped(ctx) -> Sequence[SkippedFile]`` (files the gate leaves out of `inputs` on purpose,
    e.g. by name; they are listed in its result) and ``parallel`` (True: the tool starts workers
    of its own, up to ``ctx.workers``, so the runner lends it free worker slots instead of
    splitting its files into batches)."""

    name: str
    """Unique, lower-case name used in config and output."""
    tool: str
    """What the gate drives, for the record."""
    cost: int
    """Relative cost; cheaper gates start first."""
    per_file: bool
    """True if a file's findings depend on that file alone, so unchanged files are not rescanned
    and the files may be scanned in batches, at the same time, by several runs of the tool."""
    default_fail_on: SeverityName
    """Lowest severity that fails the gate unless the policy says otherwise."""

    def applies(self, ctx: GateContext) -> bool:
        """Whether there is anything for this gate to check."""
        ...

    def version(self) -> str:
        """The tool's version; raise `ToolMissingError` when it is not installed."""
        ...

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Relative paths of the files the gate reads (the cache key covers their content)."""
        ...

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run the tool over `files` (a subset of `inputs` for per-file gates)."""
        ...

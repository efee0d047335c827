"""The gate contract: what a gate is given, what it returns, and the models it returns.

A gate drives one tool over a workspace and turns the tool's machine-readable output into
`Finding`s. The runner (`assay.gates.runner`) decides ordering, caching and the status under the
policy; a gate only scans.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

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
    "SkippedFile",
    "fingerprint",
]


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so thresholds compare with `>=`."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Parse a case-insensitive name such as ``"high"``."""
        try:
            return cls[value.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {value!r}; expected one of {names}") from None

    @property
    def label(self) -> SeverityName:
        """The lower-case name used in config and output."""
        return cast("SeverityName", self.name.lower())


SeverityName = Literal["info", "low", "medium", "high", "critical"]


Confidence = Literal["low", "medium", "high"]


class RuleInfo(BaseModel):
    """What the tool says about the rule behind a finding, for the rule descriptions of SARIF.

    Rule-level facts only: every finding of one rule carries the same values. Each field has a
    default so findings from plugins, and findings cached before a field existed, still load.
    """

    model_config = ConfigDict(frozen=True)

    name: str = ""
    """A readable identifier, e.g. ``unused-import`` or ``hardcoded_password_string``."""
    summary: str = ""
    """One line saying what the rule looks for."""
    description: str = ""
    """A longer explanation (plain text or Markdown) when the tool gives one."""
    help_uri: str = ""
    """The rule's documentation page, when the tool has one."""
    tags: tuple[str, ...] = ()
    """The tool's own categories, e.g. ``("Pyflakes", "suspicious")``."""
    security: bool = False
    """A security rule: SARIF tags it ``security`` and gives it a ``security-severity``."""
    cwe: tuple[int, ...] = ()
    """CWE numbers the rule maps to."""
    references: tuple[str, ...] = ()
    """Further reading the tool links to (beyond `help_uri` and the CWE pages)."""


class Finding(BaseModel):
    """One problem a tool reported, in assay's common shape."""

    model_config = ConfigDict(frozen=True)

    gate: str
    """Name of the gate that produced it."""
    rule_id: str
    """The tool's rule or check id, e.g. ``F401`` or ``B602``."""
    severity: SeverityName
    """Severity in assay's scale."""
    file: str
    """Path relative to the scanned root, with forward slashes; empty for project-wide findings."""
    line: int = 0
    """1-based line, 0 when the tool gives none."""
    column: int = 0
    """1-based column, 0 when the tool gives none."""
    message: str
    """The tool's message."""
    fingerprint: str = ""
    """Stable identity across runs and line shifts (see `fingerprint`)."""
    waived_by: str | None = None
    """The waiver's reason when a waiver covers this finding."""
    confidence: Confidence | None = None
    """How sure the tool is that this match is real, when it says."""
    rule: RuleInfo = RuleInfo()
    """What the tool says about `rule_id`; not part of the fingerprint."""

    @property
    def level(self) -> Severity:
        """Severity as an ordered enum."""
        return Severity.parse(self.severity)


class SkippedFile(BaseModel):
    """A file a gate did not scan, and why: so "passed" never hides a file nobody read."""

    model_config = ConfigDict(frozen=True)

    path: str
    """Relative to the project root, forward slashes: the name found in the project (for a
    symlink, the link's own name, never where it points)."""
    reason: str
    """Why it was not scanned, e.g. ``symlink to a path outside the project``."""


class GateStatus(enum.StrEnum):
    """Outcome of one gate."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    NOT_EVALUATED = "not-evaluated"
    NOT_APPLICABLE = "not-applicable"


class GateResult(BaseModel):
    """What one gate concluded, with enough context to audit it."""

    gate: str
    tool: str
    """The executable or library the gate drove."""
    tool_version: str
    status: GateStatus
    required: bool
    fail_on: SeverityName = "low"
    """The lowest severity that failed the gate under the policy in force."""
    duration_s: float
    findings: list[Finding] = Field(default_factory=list)
    raw_report: str | None = None
    """Path of the tool's own report this result was parsed from; for a tool run in batches,
    the folder holding each batch's report (``batch-1``, ``batch-2``...)."""
    message: str = ""
    """Why the gate errored or was not evaluated, or a one-line summary."""
    cached: bool = False
    """True when nothing was run because the inputs were unchanged."""
    files_scanned: int = 0
    """How many files the tool actually ran on (0 for a full cache hit)."""
    metrics: dict[str, float] = Field(default_factory=dict)
    """Numbers worth keeping, e.g. ``coverage``."""
    notes: list[str] = Field(default_factory=list)
    """What the user should know about how this result came about, e.g. a cache entry that
    failed authentication and was ignored, or a file that changed while the tool read it."""
    skipped: list[SkippedFile] = Field(default_factory=list)
    """Files this gate could have read but did not scan (a link out of the project, a file too
    large...), each with its reason."""

    @property
    def blocking_findings(self) -> list[Finding]:
        """Unwaived findings at or above `fail_on`: the ones that decide the status."""
        floor = Severity.parse(self.fail_on)
        return [f for f in self.findings if f.waived_by is None and f.level >= floor]

    @property
    def blocking(self) -> bool:
        """True when this result makes the overall verdict fail."""
        return self.required and self.status not in (GateStatus.PASSED, GateStatus.NOT_APPLICABLE)


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


def fingerprint(rule_id: str, file: str, line_text: str, ordinal: int = 0) -> str:
    """A finding's identity: rule, file and the offending line's text, not its number.

    Whitespace is ignored so re-indenting does not change it; `ordinal` separates identical
    findings on identical lines in the same file.
    """
    normalized = " ".join(line_text.split())
    digest = hashlib.sha256(f"{rule_id}\0{file}\0{normalized}\0{ordinal}".encode())
    return digest.hexdigest()[:32]


class GateReport(BaseModel):
    """The verdict of one gate run over a project, with the policy that produced it."""

    root: str
    passed: bool
    summary: str
    results: list[GateResult]
    duration_s: float
    policy: dict[str, Any] = Field(default_factory=dict)
    """The settings in force, recorded so a reviewer can see what "passed" meant."""
    expired_waivers: list[dict[str, Any]] = Field(default_factory=list)
    assay_version: str = ""
    skipped: list[SkippedFile] = Field(default_factory=list)
    """Every file the walk found but no gate read (a link out of the project, a broken link...),
    once each; a gate's own result lists those it could have read."""
    notes: list[str] = Field(default_factory=list)
    """What the user should know about the run as a whole, e.g. that the gate cache was off."""

    @property
    def findings(self) -> list[Finding]:
        """Every finding from every gate."""
        return [f for r in self.results for f in r.findings]

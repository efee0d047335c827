"""The words every layer shares: severities, findings, gate verdicts and the roles' names.

This module sits at the bottom of assay's layers (see ``.importlinter``): it imports nothing from
assay, so `assay.config`, `assay.messages`, the gates, the ledger's readers and the evidence may
all use it without depending on each other. The gate contract (`Gate`, `GateContext`, `Scan`)
stays in `assay.gates.base`, which re-exports these names for plugins written against it.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AGENT_ROLES",
    "ROLES",
    "AgentRole",
    "Confidence",
    "Finding",
    "GateReport",
    "GateResult",
    "GateStatus",
    "Role",
    "RuleInfo",
    "Severity",
    "SeverityName",
    "SkippedFile",
    "fingerprint",
]

AgentRole = Literal["architect", "tester", "coder", "security-reviewer"]
"""The roles a model plays while building: each has an agent, a model choice and a prompt."""

Role = Literal["human", AgentRole, "judge", "factory"]
"""Who may send a message: a person, a generating role, the holdout judge or the factory."""

AGENT_ROLES = cast("tuple[AgentRole, ...]", get_args(AgentRole))
"""The generating roles in the order they act (architect first); spelled once, in `AgentRole`."""

ROLES = cast("tuple[Role, ...]", get_args(Role))
"""Every sender, in `Role`'s order: ``human``, the generating roles, ``judge``, ``factory``."""


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

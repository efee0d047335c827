"""What a run did, read from its ledger alone: the content of the report (HTML and JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from assay.config import ApprovalConfig
from assay.evidence.approval import valid_approvals
from assay.evidence.shortfall import shortfall
from assay.factory import events as ev
from assay.gates.base import GateReport
from assay.ledger import Event
from assay.ledger import kinds as k
from assay.messages import Envelope, SecurityFinding, SecurityReview
from assay.plugins import ReportSection

__all__ = ["RunSummary", "summarize"]


class TimelineEntry(BaseModel):
    """One event, briefly."""

    seq: int
    time: str
    kind: str
    iteration: int | None = None
    label: str = ""


class IterationRow(BaseModel):
    """One iteration of the loop: its scores and what the loop decided."""

    iteration: int
    scores: dict[str, float] = Field(default_factory=dict)
    decision: str = ""
    reason: str = ""
    gates: dict[str, str] = Field(default_factory=dict)
    """Gate name -> status in this iteration."""
    tier: int | None = None
    """A stratified run's tier when the loop decided (None: not stratified)."""


class TierAdvance(BaseModel):
    """A stratified run moving to its next tier."""

    iteration: int
    from_tier: int
    to_tier: int
    satisfaction: float


class Regression(BaseModel):
    """A held-out scenario that passed in an earlier iteration and failed in this one."""

    iteration: int
    scenario: str
    passed_in: int


class ModelCost(BaseModel):
    """Spending on one model (or, in `RunSummary.role_costs`, by one role: `model` names it)."""

    model: str
    requests: int = 0
    tokens_in: int = 0
    cache_read_tokens: int = 0
    """Of `tokens_in`, those the provider served from its prompt cache."""
    tokens_out: int = 0
    cost_usd: float = 0.0
    saved_usd: float = 0.0
    """What the prompt cache saved against the same tokens uncached."""
    prompt_chars: int = 0
    stable_prefix_chars: int = 0
    """Of `prompt_chars`, what began as the role's previous prompt did (cacheable)."""

    def add(self, p: ev.ModelResponded) -> None:
        """Count one response."""
        self.requests += 1
        self.tokens_in += p.tokens_in
        self.cache_read_tokens += p.cache_read_tokens
        self.tokens_out += p.tokens_out
        self.cost_usd += p.cost_usd or 0.0
        if p.uncached_cost_usd is not None and p.cost_usd is not None:
            self.saved_usd += p.uncached_cost_usd - p.cost_usd

    @property
    def stable_share(self) -> float:
        """The share of the prompts' text a prefix cache could serve."""
        return self.stable_prefix_chars / self.prompt_chars if self.prompt_chars else 0.0


class SecurityReviewRow(BaseModel):
    """One security review's verdict."""

    iteration: int | None = None
    verdict: str
    summary: str = ""
    findings: list[dict[str, Any]] = Field(default_factory=list)


class ScenarioRow(BaseModel):
    """One holdout scenario's result in the last validation."""

    id: str
    passed: bool
    score: float | None = None
    detail: str = ""
    tier: int | None = None


class DependencyRow(BaseModel):
    """One locked third-party component of the service (`assay.deps`)."""

    name: str
    version: str
    direct: bool = False
    required_by: list[str] = Field(default_factory=list)
    licence: str = ""
    hashes: int = 0
    """How many artifact hashes the lock pins for it."""


class Dependencies(BaseModel):
    """The service's dependencies as last accepted: the lock, licences and the audit."""

    requested: list[str] = Field(default_factory=list)
    lock_sha256: str = ""
    components: list[DependencyRow] = Field(default_factory=list)
    vulnerabilities: list[str] = Field(default_factory=list)
    not_audited: str = ""
    """Why pip-audit could not vouch for every component (empty: all audited)."""
    notes: list[str] = Field(default_factory=list)
    refusals: list[str] = Field(default_factory=list)
    """Every refusal sent back to the architect, oldest first."""


class ApprovalRow(BaseModel):
    """A recorded approval."""

    seq: int
    time: str
    approver: str
    reason: str
    os_user: str = ""
    """The OS account that ran ``assay approve``: name and uid."""
    keyid: str = ""
    valid: bool = True
    converged: bool = True
    """False when the approver approved a run they were told had not converged."""


class RunSummary(BaseModel):
    """The report's content. `assay report` renders it as HTML and writes it as JSON."""

    run_id: str
    spec_title: str = ""
    spec_digest: str = ""
    started: str = ""
    finished: str = ""
    outcome: str = "unfinished"
    outcome_reason: str = ""
    """Why the run stopped (e.g. a blocked role's explanation), as the loop recorded it."""
    user: str = ""
    config_file: str = ""
    """The configuration file that governed the run (empty: defaults), and its content digest."""
    config_sha256: str = ""
    models: dict[str, str] = Field(default_factory=dict)
    leak_level: str = ""
    assay_version: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    events: int = 0
    head: str = ""
    checkpoints: int = 0
    sealed_by_report: list[int] = Field(default_factory=list)
    """Checkpoints `assay report` signed over events the run itself never sealed (a run that
    crashed, was killed or is still running): the bundle is verifiable up to its last event."""
    traces: list[str] = Field(default_factory=list)
    """The OpenTelemetry trace id of each traced execution of the run (``run.traced``; a resume
    is another), to find it in a collector."""
    timeline: list[TimelineEntry] = Field(default_factory=list)
    iterations: list[IterationRow] = Field(default_factory=list)
    gate_report: GateReport | None = None
    """The gates of the last iteration that ran them."""
    security_reviews: list[SecurityReviewRow] = Field(default_factory=list)
    scenario_score: float | None = None
    scenarios: list[ScenarioRow] = Field(default_factory=list)
    stratified: bool = False
    """Whether the run converged its scenario tiers in order (``--stratified``)."""
    block_on_regression: bool = False
    """Whether a regressed scenario refused convergence (``--block-on-regression``)."""
    tier_advances: list[TierAdvance] = Field(default_factory=list)
    regressions: list[Regression] = Field(default_factory=list)
    judge_calls: int = 0
    """Model calls the scenario judge made, over every iteration."""
    judge_reused: int = 0
    """Judged steps whose verdict was reused from an identical earlier question (no call)."""
    judge_calls_saved: int = 0
    """Judge samples not asked because a step's first two agreed (early stop), every iteration."""
    shortfall: str = ""
    """What kept the best iteration's score below 100 (`assay.evidence.shortfall`); empty at 100."""
    costs: list[ModelCost] = Field(default_factory=list)
    role_costs: list[ModelCost] = Field(default_factory=list)
    """Spending by role (architect, tester, coder, security-reviewer, ...), in that order."""
    rejected_edits: list[dict[str, Any]] = Field(default_factory=list)
    dependencies: Dependencies | None = None
    """None when no design named a dependency."""
    approvals: list[ApprovalRow] = Field(default_factory=list)
    approval_problems: list[str] = Field(default_factory=list)
    approval_required: bool = False
    min_approvals: int = 1
    releasable: bool = False
    releasable_reasons: list[str] = Field(default_factory=list)
    """Why the run is not releasable (empty when it is)."""
    controls: list[dict[str, Any]] = Field(default_factory=list)
    """Filled by the bundle writer: control id, framework, title, evidence files."""
    plugin_sections: list[ReportSection] = Field(default_factory=list)
    """Filled by the bundle writer: sections plugins add (hook ``assay_report_sections``)."""
    unreadable: list[str] = Field(default_factory=list)
    """Events whose payload did not fit its kind's shape (`assay.factory.events.read`): left
    out of the figures above, and said so."""

    @property
    def complete(self) -> bool:
        """Whether the run finished (an unfinished run's bundle says "incomplete")."""
        return self.outcome != "unfinished"

    @property
    def total_cost(self) -> ModelCost:
        """Spending summed over every model."""
        total = ModelCost(model="total")
        for c in self.costs:
            total.requests += c.requests
            total.tokens_in += c.tokens_in
            total.cache_read_tokens += c.cache_read_tokens
            total.tokens_out += c.tokens_out
            total.cost_usd += c.cost_usd
            total.saved_usd += c.saved_usd
            total.prompt_chars += c.prompt_chars
            total.stable_prefix_chars += c.stable_prefix_chars
        return total


def _label(event: Event, payload: BaseModel | None) -> str:
    match payload:
        case Envelope():
            return f"{payload.sender}: {payload.message.kind}"
        case ev.GatesRan():
            return payload.report.summary
        case ev.LoopDecided():
            return f"decision {payload.decision}"
        case ev.RunFinished():
            return f"outcome {payload.outcome}"
        case ev.SecurityReviewed():
            return f"verdict {payload.verdict}"
        case ev.Approved():
            return f"approver {payload.approver}"
        case ev.ModelRequested() | ev.ModelResponded():
            return f"model {payload.model}"
        case ev.EditRejected():
            return f"path {payload.path}"
    return ""


_ROLE_ORDER = ("preflight", "architect", "tester", "coder", "security-reviewer")


def _role_order(role: str) -> tuple[int, str]:
    """The pipeline's order, then other roles (plugins') by name."""
    return (_ROLE_ORDER.index(role), "") if role in _ROLE_ORDER else (len(_ROLE_ORDER), role)


class _Builder:
    def __init__(self, run_id: str) -> None:
        self.s = RunSummary(run_id=run_id)
        self.iterations: dict[int, IterationRow] = {}
        self.costs: dict[str, ModelCost] = {}
        self.role_costs: dict[str, ModelCost] = {}
        self.gate_reports: dict[int, GateReport] = {}
        self.reviews: dict[int, SecurityReviewRow] = {}

    def row(self, iteration: int) -> IterationRow:
        return self.iterations.setdefault(iteration, IterationRow(iteration=iteration))

    def add(self, event: Event) -> None:
        s = self.s
        s.events += 1
        s.head = event.hash
        got = ev.read(event)
        if got.problem:
            s.unreadable.append(got.problem)
        payload = got.payload
        iteration = getattr(payload, "iteration", None)
        s.timeline.append(
            TimelineEntry(
                seq=event.seq, time=event.time, kind=event.kind,
                iteration=iteration if isinstance(iteration, int) else None,
                label=_label(event, payload),
            )
        )  # fmt: skip
        if payload is not None:
            self.run_fact(event, payload)
            self.iteration_fact(payload)

    def run_fact(self, event: Event, payload: BaseModel) -> None:
        """What the run as a whole did: who started it, spending, how it ended, its seals."""
        s = self.s
        match payload:
            case ev.RunStarted():
                self.started(event, payload)
            case ev.ModelResponded():
                self.model_response(payload)
            case ev.ModelRequested():
                for cost in (
                    self.role_costs.setdefault(payload.role, ModelCost(model=payload.role)),
                    self.costs.setdefault(payload.model, ModelCost(model=payload.model)),
                ):
                    cost.prompt_chars += payload.prompt_chars
                    cost.stable_prefix_chars += payload.stable_prefix_chars
            case ev.EditRejected():
                s.rejected_edits.append({"seq": event.seq, **ev.dump(payload)})
            case ev.RunTraced():
                s.traces.append(payload.trace_id)
            case ev.RunFinished():
                s.finished, s.outcome = event.time, payload.outcome
                s.outcome_reason = payload.reason
            case ev.Checkpointed():
                s.checkpoints += 1
                if payload.sealed_by == k.REPORT_SEAL:
                    s.sealed_by_report.append(event.seq)

    def iteration_fact(self, payload: BaseModel) -> None:
        """What one iteration found: gates, review, scenarios, dependencies, the decision."""
        match payload:
            case Envelope(message=SecurityReview() as review):
                self.review(payload.iteration, review.verdict, review.summary, review.findings)
            case ev.SecurityReviewed():  # the envelope and this event describe the same review
                self.review(payload.iteration, payload.verdict, payload.summary, payload.findings)
            case ev.GatesRan():
                self.gate_reports[payload.iteration] = payload.report
                for r in payload.report.results:
                    self.row(payload.iteration).gates[r.gate] = str(r.status)
            case ev.DependenciesLocked():
                self.dependencies_locked(payload)
            case ev.DependenciesRefused():
                deps = self.s.dependencies or Dependencies()
                asked = ", ".join(payload.requested)
                deps.refusals += [f"{asked}: {r}" for r in payload.reasons]
                self.s.dependencies = deps
            case ev.ScenariosRan():
                self.scenarios(payload)
            case ev.TierAdvanced():
                self.s.tier_advances.append(TierAdvance.model_validate(ev.dump(payload)))
            case ev.RegressionsFound():
                self.s.regressions += [
                    Regression(iteration=payload.iteration, scenario=r.id, passed_in=r.passed_in)
                    for r in payload.scenarios
                ]
            case ev.LoopDecided():
                row = self.row(payload.iteration)
                row.decision, row.reason = payload.decision, payload.reason
                row.tier = payload.tier
                if payload.scores is not None:
                    row.scores.update(_numbers(payload.scores))

    def started(self, event: Event, p: ev.RunStarted) -> None:
        s = self.s
        s.started = event.time
        s.spec_title, s.spec_digest, s.user = p.spec_title, p.spec_digest, p.user
        s.config_file, s.config_sha256 = p.config_file or "", p.config_sha256 or ""
        s.leak_level, s.assay_version = p.leak_level, p.assay_version
        s.models, s.settings = dict(p.models), dict(p.settings)
        factory = p.settings.get("factory")
        if isinstance(factory, dict):  # as recorded: an older assay had neither setting
            s.stratified = factory.get("stratified") is True
            s.block_on_regression = factory.get("block_on_regression") is True

    def review(
        self, iteration: int, verdict: str, summary: str, findings: list[SecurityFinding]
    ) -> None:
        self.reviews[iteration] = SecurityReviewRow(
            iteration=iteration, verdict=verdict, summary=summary,
            findings=[f.model_dump(mode="json") for f in findings],
        )  # fmt: skip

    def model_response(self, p: ev.ModelResponded) -> None:
        self.costs.setdefault(p.model, ModelCost(model=p.model)).add(p)
        self.role_costs.setdefault(p.role, ModelCost(model=p.role)).add(p)

    def dependencies_locked(self, p: ev.DependenciesLocked) -> None:
        deps = self.s.dependencies or Dependencies()
        if p.refused:
            deps.refusals.append(p.refused)
            self.s.dependencies = deps
            return
        self.s.dependencies = Dependencies(
            requested=list(p.requested), lock_sha256=p.lock_sha256,
            components=[
                DependencyRow(
                    name=c.name, version=c.version, direct=c.direct,
                    required_by=list(c.required_by), licence=c.licence, hashes=len(c.hashes),
                )
                for c in p.components
            ],
            vulnerabilities=list(p.vulnerabilities), not_audited=p.not_audited or "",
            notes=list(p.notes), refusals=deps.refusals,
        )  # fmt: skip

    def scenarios(self, p: ev.ScenariosRan) -> None:
        s = self.s
        s.scenario_score = p.score
        if p.result is not None:
            s.judge_calls += p.result.judge_calls
            s.judge_reused += p.result.judge_reused
            s.judge_calls_saved += p.result.judge_calls_saved
        s.scenarios = [
            ScenarioRow(id=x.id, passed=x.passed, score=x.score, detail=x.detail, tier=x.tier)
            for x in p.scenarios
        ]

    def final_gate_report(self) -> GateReport | None:
        last = max(self.gate_reports, default=None)
        return None if last is None else self.gate_reports[last]


def _numbers(scores: BaseModel) -> dict[str, float]:
    """An iteration's numeric scores by name (flags and unknowns left out; the count of
    blocking regressions only when there were any)."""
    return {
        name: float(value)
        for name, value in scores.model_dump().items()
        if isinstance(value, int | float)
        and not isinstance(value, bool)
        and not (name == "regressions" and value == 0)
    }


def summarize(
    events: Iterable[Event], *, run_id: str, approval_required: bool | None = None
) -> RunSummary:
    """Build the report's content from the ledger's events.

    `approval_required` overrides the policy recorded in the run's settings.
    """
    kept = list(events)
    b = _Builder(run_id)
    for event in kept:
        b.add(event)
    s = b.s
    s.iterations = [
        b.iterations[i] for i in sorted(b.iterations) if i > 0 or b.iterations[i].scores
    ]
    s.gate_report = b.final_gate_report()
    s.security_reviews = [b.reviews[i] for i in sorted(b.reviews)]
    s.shortfall = shortfall(kept) or ""
    s.costs = sorted(b.costs.values(), key=lambda c: -c.cost_usd)
    s.role_costs = sorted(b.role_costs.values(), key=lambda c: _role_order(c.model))
    good, s.approval_problems = valid_approvals(kept)
    good_seqs = {e.seq for e in good}
    s.approvals = [
        ApprovalRow(
            seq=e.seq, time=e.time, approver=a.approver, reason=a.reason,
            os_user=f"{a.os_user} (uid {'?' if a.os_uid is None else a.os_uid})",
            keyid=a.signature.get("keyid", ""), valid=e.seq in good_seqs, converged=a.converged,
        )
        for e in kept
        if (a := ev.read_as(ev.Approved, e)) is not None
    ]  # fmt: skip
    required, s.min_approvals = _approval_policy(s)
    s.approval_required = required if approval_required is None else approval_required
    s.releasable_reasons = _not_releasable(s, len(good))
    s.releasable = not s.releasable_reasons
    return s


def _approval_policy(s: RunSummary) -> tuple[bool, int]:
    """Whether the run's recorded ``[approval]`` policy requires approval, and how many. A policy
    this assay cannot read fails closed: approval required, and the report says why."""
    recorded = s.settings.get("approval")
    if recorded is None:
        return False, 1
    try:
        policy = ApprovalConfig.model_validate(recorded)
    except ValidationError as exc:
        s.unreadable.append(f"the recorded [approval] policy is unreadable, so approval is "
                            f"required: {exc.errors()[0]['msg']}")  # fmt: skip
        return True, 1
    return policy.required, policy.min_approvals


def _not_releasable(s: RunSummary, approvals: int) -> list[str]:
    reasons = []
    if not s.complete:
        reasons.append("the run is incomplete: it crashed, was killed or is still running")
    elif s.outcome != "converged":
        reasons.append(f"the run's outcome is '{s.outcome}', not 'converged'")
    if s.gate_report is not None and not s.gate_report.passed:
        reasons.append("a required gate did not pass in the last iteration")
    if any(r.verdict == "reject" for r in s.security_reviews[-1:]):
        reasons.append("the last security review rejected the change")
    if s.approval_required and approvals < s.min_approvals:
        reasons.append(f"policy requires {s.min_approvals} approval(s); {approvals} recorded")
    return reasons

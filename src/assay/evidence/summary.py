"""What a run did, read from its ledger alone: the content of the report (HTML and JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from assay.evidence.approval import valid_approvals
from assay.evidence.shortfall import shortfall
from assay.gates.base import GateReport, GateResult, GateStatus
from assay.ledger import Event
from assay.ledger import kinds as k
from assay.plugins import ReportSection

__all__ = ["RunSummary", "summarize"]

_TIMELINE_LABEL_KEYS = ("decision", "outcome", "verdict", "approver", "model", "path", "sender")


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


class ModelCost(BaseModel):
    """Spending on one model."""

    model: str
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0


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
    timeline: list[TimelineEntry] = Field(default_factory=list)
    iterations: list[IterationRow] = Field(default_factory=list)
    gate_report: GateReport | None = None
    """The gates of the last iteration that ran them."""
    security_reviews: list[SecurityReviewRow] = Field(default_factory=list)
    scenario_score: float | None = None
    scenarios: list[ScenarioRow] = Field(default_factory=list)
    judge_calls: int = 0
    """Model calls the scenario judge made, over every iteration."""
    judge_reused: int = 0
    """Judged steps whose verdict was reused from an identical earlier question (no call)."""
    shortfall: str = ""
    """What kept the best iteration's score below 100 (`assay.evidence.shortfall`); empty at 100."""
    costs: list[ModelCost] = Field(default_factory=list)
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
            total.tokens_out += c.tokens_out
            total.cost_usd += c.cost_usd
        return total


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _label(event: Event) -> str:
    p = event.payload
    if event.kind == k.MESSAGE and isinstance(p.get("message"), dict):
        return f"{p.get('sender', '?')}: {p['message'].get('kind', '?')}"
    if event.kind == k.GATE_RESULT:
        report = p.get("report") or {}
        result = p.get("result") or {}
        if isinstance(report, dict) and report.get("summary"):
            return str(report["summary"])
        if isinstance(result, dict):
            return f"{result.get('gate', '?')}: {result.get('status', '?')}"
    for key in _TIMELINE_LABEL_KEYS:
        if isinstance(p.get(key), str) and p[key]:
            return f"{key} {p[key]}"
    return ""


class _Builder:
    def __init__(self, run_id: str) -> None:
        self.s = RunSummary(run_id=run_id)
        self.iterations: dict[int, IterationRow] = {}
        self.costs: dict[str, ModelCost] = {}
        self.gate_results: dict[int, dict[str, GateResult]] = {}
        self.gate_reports: dict[int, GateReport] = {}
        self.reviews: dict[int, SecurityReviewRow] = {}

    def row(self, iteration: int | None) -> IterationRow:
        it = iteration or 0
        return self.iterations.setdefault(it, IterationRow(iteration=it))

    def add(self, event: Event) -> None:
        s, p = self.s, event.payload
        s.events += 1
        s.head = event.hash
        iteration = _int(p.get("iteration"))
        s.timeline.append(
            TimelineEntry(
                seq=event.seq,
                time=event.time,
                kind=event.kind,
                iteration=iteration,
                label=_label(event),
            )
        )
        handler = getattr(self, "on_" + event.kind.replace(".", "_"), None)
        if handler is not None:
            handler(event, p, iteration)

    def on_run_started(self, event: Event, p: dict[str, Any], _it: int | None) -> None:
        s = self.s
        s.started = event.time
        s.spec_title = str(p.get("spec_title", ""))
        s.spec_digest = str(p.get("spec_digest", ""))
        s.user = str(p.get("user", ""))
        s.config_file = str(p.get("config_file") or "")
        s.config_sha256 = str(p.get("config_sha256") or "")
        s.leak_level = str(p.get("leak_level", ""))
        s.assay_version = str(p.get("assay_version", ""))
        if isinstance(p.get("models"), dict):
            s.models = {str(a): str(b) for a, b in p["models"].items()}
        if isinstance(p.get("settings"), dict):
            s.settings = p["settings"]

    def on_message(self, event: Event, p: dict[str, Any], it: int | None) -> None:
        message = p.get("message")
        if not isinstance(message, dict):
            return
        if message.get("kind") == "gate-report" and isinstance(message.get("report"), dict):
            self.on_gate_result(event, {"report": message["report"]}, it)
        elif message.get("kind") == "security-review":
            self.on_security_review(event, message, it)

    def on_model_response(self, _e: Event, p: dict[str, Any], _it: int | None) -> None:
        model = str(p.get("model", "unknown"))
        cost = self.costs.setdefault(model, ModelCost(model=model))
        cost.requests += 1
        cost.tokens_in += _int(p.get("tokens_in")) or 0
        cost.tokens_out += _int(p.get("tokens_out")) or 0
        cost.cost_usd += _num(p.get("cost_usd"))

    def on_gate_result(self, _e: Event, p: dict[str, Any], it: int | None) -> None:
        try:
            if isinstance(p.get("report"), dict):
                report = GateReport.model_validate(p["report"])
                self.gate_reports[it or 0] = report
                for r in report.results:
                    self.row(it).gates[r.gate] = str(r.status)
            elif isinstance(p.get("result"), dict):
                result = GateResult.model_validate(p["result"])
                self.gate_results.setdefault(it or 0, {})[result.gate] = result
                self.row(it).gates[result.gate] = str(result.status)
        except ValidationError:
            return

    def on_dependencies_locked(self, _e: Event, p: dict[str, Any], _it: int | None) -> None:
        deps = self.s.dependencies or Dependencies()
        if p.get("refused"):
            deps.refusals.append(str(p["refused"]))
            self.s.dependencies = deps
            return
        rows = [c for c in p.get("components") or [] if isinstance(c, dict)]
        self.s.dependencies = Dependencies(
            requested=[str(r) for r in p.get("requested") or []],
            lock_sha256=str(p.get("lock_sha256", "")),
            components=[
                DependencyRow(
                    name=str(c.get("name", "")), version=str(c.get("version", "")),
                    direct=bool(c.get("direct")),
                    required_by=[str(r) for r in c.get("required_by") or []],
                    licence=str(c.get("licence", "")), hashes=len(c.get("hashes") or []),
                )
                for c in rows
            ],
            vulnerabilities=[str(v) for v in p.get("vulnerabilities") or []],
            not_audited=str(p.get("not_audited") or ""),
            notes=[str(n) for n in p.get("notes") or []],
            refusals=deps.refusals,
        )  # fmt: skip

    def on_dependencies_refused(self, _e: Event, p: dict[str, Any], _it: int | None) -> None:
        deps = self.s.dependencies or Dependencies()
        asked = ", ".join(str(r) for r in p.get("requested") or [])
        deps.refusals += [f"{asked}: {r}" for r in p.get("reasons") or []]
        self.s.dependencies = deps

    def on_security_review(self, _e: Event, p: dict[str, Any], it: int | None) -> None:
        findings = [f for f in p.get("findings", []) if isinstance(f, dict)]
        self.reviews[it or 0] = (  # the envelope and the review event describe the same review
            SecurityReviewRow(
                iteration=it,
                verdict=str(p.get("verdict", "")),
                summary=str(p.get("summary", "")),
                findings=findings,
            )
        )

    def on_scenario_result(self, _e: Event, p: dict[str, Any], it: int | None) -> None:
        s = self.s
        s.scenario_score = _num(p.get("score"))
        result = p["result"] if isinstance(p.get("result"), dict) else {}
        s.judge_calls += _int(result.get("judge_calls")) or 0
        s.judge_reused += _int(result.get("judge_reused")) or 0
        s.scenarios = [
            ScenarioRow(
                id=str(x.get("id", "?")),
                passed=bool(x.get("passed")),
                score=_num(x["score"]) if "score" in x else None,
                detail=str(x.get("detail", "")),
            )
            for x in p.get("scenarios", [])
            if isinstance(x, dict)
        ]

    def on_loop_decision(self, _e: Event, p: dict[str, Any], it: int | None) -> None:
        row = self.row(it)
        row.decision = str(p.get("decision", ""))
        row.reason = str(p.get("reason", ""))
        if isinstance(p.get("scores"), dict):
            row.scores.update(
                {str(a): float(b) for a, b in p["scores"].items() if _int(b) is not None or
                 isinstance(b, float)}
            )  # fmt: skip

    def on_edit_rejected(self, event: Event, p: dict[str, Any], _it: int | None) -> None:
        self.s.rejected_edits.append({"seq": event.seq, **p})

    def on_run_finished(self, event: Event, p: dict[str, Any], _it: int | None) -> None:
        self.s.finished = event.time
        self.s.outcome = str(p.get("outcome", "finished"))
        self.s.outcome_reason = str(p.get("reason", ""))

    def on_checkpoint(self, event: Event, p: dict[str, Any], _it: int | None) -> None:
        self.s.checkpoints += 1
        if p.get("sealed_by") == k.REPORT_SEAL:
            self.s.sealed_by_report.append(event.seq)

    def final_gate_report(self) -> GateReport | None:
        last_report = max(self.gate_reports, default=None)
        last_results = max(self.gate_results, default=None)
        if last_results is not None and (last_report is None or last_results > last_report):
            results = list(self.gate_results[last_results].values())
            passed = not any(r.blocking for r in results)
            failed = sum(r.status is not GateStatus.PASSED for r in results)
            return GateReport(
                root="workspace", passed=passed, results=results,
                summary=f"{len(results)} gates, {failed} not passed",
                duration_s=sum(r.duration_s for r in results),
            )  # fmt: skip
        return None if last_report is None else self.gate_reports[last_report]


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
    good, s.approval_problems = valid_approvals(kept)
    good_seqs = {e.seq for e in good}
    s.approvals = [
        ApprovalRow(
            seq=e.seq,
            time=e.time,
            approver=str(e.payload.get("approver", "")),
            reason=str(e.payload.get("reason", "")),
            os_user=f"{e.payload.get('os_user', '')} (uid {e.payload.get('os_uid', '?')})",
            keyid=str((e.payload.get("signature") or {}).get("keyid", "")),
            valid=e.seq in good_seqs,
            converged=e.payload.get("converged") is not False,
        )
        for e in kept
        if e.kind == k.APPROVAL
    ]
    policy = s.settings.get("approval") if isinstance(s.settings.get("approval"), dict) else {}
    assert isinstance(policy, dict)
    s.approval_required = (
        bool(policy.get("required")) if approval_required is None else approval_required
    )
    s.min_approvals = _int(policy.get("min_approvals")) or 1
    s.releasable_reasons = _not_releasable(s, len(good))
    s.releasable = not s.releasable_reasons
    return s


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

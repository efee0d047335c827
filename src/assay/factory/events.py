"""One typed payload per ledger event kind: what the loop writes and what the report reads.

The loop builds these models and the ledger stores their JSON (`dump`); every reader
(`assay.evidence.summary`, `assay.evidence.shortfall`, `assay runs`, `assay approve`, the progress
lines) gets them back through `read`, never by poking at dicts. A field added later has a default,
so older ledgers still read; a field this version does not know (a newer assay wrote it) is set
aside with a note rather than failing the report. Verification does not depend on any of this: it
hashes the stored JSON as it is.

The kinds themselves are named in `assay.ledger.kinds`. The models live here, above the ledger,
because their payloads are the factory's own types (gate reports, scores, validation results).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assay.factory.stop import Decision, IterationScore
from assay.factory.strata import RegressedScenario
from assay.factory.validator import ValidationResult
from assay.gates.base import GateReport
from assay.ledger import Event
from assay.ledger import kinds as k
from assay.messages import Envelope, PreflightReport, SecurityFinding

__all__ = [
    "EVENT_MODELS",
    "Approved",
    "AutofixRecord",
    "Checkpointed",
    "DependenciesLocked",
    "DependenciesRefused",
    "EditRejected",
    "EventPayload",
    "GatesRan",
    "LockedComponent",
    "LoopDecided",
    "ModelRequested",
    "ModelResponded",
    "PreflightChecked",
    "Read",
    "RegressionsFound",
    "RejectedEdit",
    "RunFinished",
    "RunStarted",
    "RunTraced",
    "ScenarioLine",
    "ScenariosRan",
    "SecurityReviewed",
    "TierAdvanced",
    "WorkspaceCommitted",
    "all_of",
    "dump",
    "kind_of",
    "read",
    "read_as",
]


class EventPayload(BaseModel):
    """Base of every payload model: unknown fields are refused when the loop builds one (a typo
    fails loudly) and set aside with a note when a reader meets them (`read`)."""

    model_config = ConfigDict(extra="forbid")
    kind: ClassVar[str]


class RunStarted(EventPayload):
    """``run.started``: what was asked for, under which settings, by whom, sealed by which key."""

    kind: ClassVar[str] = k.RUN_STARTED
    spec_digest: str = ""
    spec_blob: str | None = None
    """The spec's blob (a ``*_blob`` field names a blob that must exist: None, not "", when
    there is none)."""
    spec_title: str = ""
    spec_name: str = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    """`assay.config.Settings` as JSON (kept as recorded: a later assay may rename a setting)."""
    leak_level: str = ""
    models: dict[str, str] = Field(default_factory=dict)
    """Role -> model label."""
    user: str = ""
    """The OS account that started the run."""
    uid: int | None = None
    signing_key: str | None = None
    """The factory key that seals the run's checkpoints: it may not approve the run."""
    assay_version: str = ""
    config_file: str | None = None
    """The configuration file that governed the run, and its content digest (None: defaults)."""
    config_sha256: str | None = None
    scenarios_dir: str | None = None
    judge_model: str = ""
    judge: str = ""
    preflight: bool = False
    """Whether the run checks its spec before the architect (older ledgers: it did not)."""
    house_style_file: str | None = None
    """The house-style JSON the roles were given (``assay extract``; None: none), its canonical
    JSON's digest, and the blob holding that JSON (what a resume gives the roles again)."""
    house_style_sha256: str | None = None
    house_style_blob: str | None = None


class RunTraced(EventPayload):
    """``run.traced``: this execution of the run (the first, or a resume) was traced; the trace
    id finds it in the collector, whose run span carries the run id (`assay.tracing`)."""

    kind: ClassVar[str] = k.RUN_TRACED
    trace_id: str
    """32 hex digits, as collectors show it."""
    span_id: str
    """The run span's id (16 hex digits)."""


class PreflightChecked(EventPayload):
    """``preflight.result``: the spec's preflight, before the architect; a report that did not
    pass stopped the run there."""

    kind: ClassVar[str] = k.PREFLIGHT_RESULT
    report: PreflightReport


class ModelRequested(EventPayload):
    """``model.request``: a role's prompt, stored as a blob."""

    kind: ClassVar[str] = k.MODEL_REQUEST
    role: str
    model: str
    iteration: int = 0
    prompt_digest: str
    prompt_blob: str
    messages: int = 0
    """How many model messages the prompt held."""
    prompt_chars: int = 0
    """The prompt's text as the provider reads it (instructions, then each message part)."""
    stable_prefix_chars: int = 0
    """How much of it begins the same as this role's previous prompt in the run: what a
    provider's prefix cache could serve, whatever the provider reports."""
    cache_point_chars: int = 0
    """How much of it comes before its last cache point (0: it marks none): what a provider that
    honours cache points (Anthropic) writes to its cache, and reads when the role's next prompt
    begins the same."""


class ModelResponded(EventPayload):
    """``model.response``: the answer, its tokens and what it cost (None: no known price)."""

    kind: ClassVar[str] = k.MODEL_RESPONSE
    role: str
    model: str
    iteration: int = 0
    prompt_digest: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    unpriced: bool = False
    response_blob: str | None = None
    cache_read_tokens: int = 0
    """Of `tokens_in`, those the provider served from its prompt cache."""
    cache_write_tokens: int = 0
    """Of `tokens_in`, those the provider wrote to its prompt cache."""
    uncached_cost_usd: float | None = None
    """What the request would have cost with no prompt cache (None: no known price)."""

    @property
    def cached_share(self) -> float:
        """The share of the input tokens served from the cache."""
        return self.cache_read_tokens / self.tokens_in if self.tokens_in else 0.0


class GatesRan(EventPayload):
    """``gate.result``: one iteration's gate report."""

    kind: ClassVar[str] = k.GATE_RESULT
    iteration: int
    report: GateReport


class SecurityReviewed(EventPayload):
    """``security.review``: the reviewer's verdict, also kept whole in its message envelope."""

    kind: ClassVar[str] = k.SECURITY_REVIEW
    iteration: int
    verdict: Literal["approve", "reject"]
    summary: str = ""
    findings: list[SecurityFinding] = Field(default_factory=list)
    model: str = ""
    envelope_id: str = ""


class ScenarioLine(BaseModel):
    """One held-out scenario's result, as the report lists it."""

    model_config = ConfigDict(extra="forbid")
    id: str
    passed: bool
    score: float | None = None
    detail: str = ""
    tier: int | None = None


class ScenariosRan(EventPayload):
    """``scenario.result``: one validation against the held-out scenarios."""

    kind: ClassVar[str] = k.SCENARIO_RESULT
    iteration: int
    score: float
    """Satisfaction, 0-100."""
    leak_level: str = ""
    error: str | None = None
    result: ValidationResult | None = None
    """The whole verdict (None only in ledgers older than it)."""
    scenarios: list[ScenarioLine] = Field(default_factory=list)
    tier: int | None = None
    """A stratified run's tier: only scenarios of tiers <= it were run (None: every one)."""


class TierAdvanced(EventPayload):
    """``tier.advanced``: in a stratified run, the scenarios of tiers <= `from_tier` passed the
    threshold, so tier `to_tier` is run (and counted) from now on, starting in this iteration."""

    kind: ClassVar[str] = k.TIER_ADVANCED
    iteration: int
    from_tier: int
    to_tier: int
    satisfaction: float
    """Satisfaction over tiers <= `from_tier` when it passed."""


class RegressionsFound(EventPayload):
    """``scenario.regression``: scenarios that passed in an earlier iteration fail in this one;
    with ``--block-on-regression`` the iteration may not converge."""

    kind: ClassVar[str] = k.SCENARIO_REGRESSION
    iteration: int
    scenarios: list[RegressedScenario]


class LoopDecided(EventPayload):
    """``loop.decision``: what the loop decided after an iteration, and the scores it used."""

    kind: ClassVar[str] = k.LOOP_DECISION
    iteration: int
    decision: Decision
    reason: str = ""
    scores: IterationScore | None = None
    """None when the iteration was not scored (the budget ran out first)."""
    best_iteration: int = 0
    best_score: float = -1.0
    escalated: bool = False
    tokens: int = 0
    cost_usd: float = 0.0
    tier: int | None = None
    """A stratified run's tier when the loop decided (None: not stratified)."""

    @field_validator("scores", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == {} else value  # what older ledgers wrote for "not scored"


class EditRejected(EventPayload):
    """``edit.rejected``: a file a role may not write, and why."""

    kind: ClassVar[str] = k.EDIT_REJECTED
    iteration: int
    role: str = ""
    path: str
    reason: str


class AutofixRecord(BaseModel):
    """What ruff's safe fixes and formatting did to a role's files (`assay.factory.autofix`)."""

    model_config = ConfigDict(extra="forbid")
    files: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    tools: dict[str, str] = Field(default_factory=dict)
    commands: list[list[str]] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


class RejectedEdit(BaseModel):
    """A file of a changeset that was not written."""

    model_config = ConfigDict(extra="forbid")
    path: str
    reason: str


class WorkspaceCommitted(EventPayload):
    """``workspace.commit``: a commit of the generated workspace, and what went into it."""

    kind: ClassVar[str] = k.WORKSPACE_COMMIT
    iteration: int
    commit: str
    tree: str = ""
    message: str = ""
    role: str | None = None
    """Set on an autofix step: whose files were fixed."""
    autofix: AutofixRecord | None = None
    rejected: list[RejectedEdit] | None = None
    """Set on the coder's commit: the files it was not allowed to write."""
    changed: list[str] | None = None
    """Set on a tester's commit: the test files it changed."""


class LockedComponent(BaseModel):
    """One third-party component of the service's lock."""

    model_config = ConfigDict(extra="forbid")
    name: str
    version: str
    direct: bool = False
    required_by: list[str] = Field(default_factory=list)
    hashes: list[str] = Field(default_factory=list)
    licence: str = ""


class DependenciesLocked(EventPayload):
    """``dependencies.locked``: a design's dependencies accepted (or, with ``refused``, not)."""

    kind: ClassVar[str] = k.DEPENDENCIES_LOCKED
    iteration: int = 0
    requested: list[str] = Field(default_factory=list)
    refused: str | None = None
    lock_sha256: str = ""
    python: str = ""
    platform: str = ""
    components: list[LockedComponent] = Field(default_factory=list)
    vulnerabilities: list[str] = Field(default_factory=list)
    not_audited: str | None = None
    """Why pip-audit could not vouch for every component (None or empty: all audited)."""
    notes: list[str] = Field(default_factory=list)
    lock_blob: str | None = None
    """The lock file's blob; None when the design dropped every dependency."""


class DependenciesRefused(EventPayload):
    """``dependencies.refused``: what the architect asked for, sent back with the reasons."""

    kind: ClassVar[str] = k.DEPENDENCIES_REFUSED
    requested: list[str]
    reasons: list[str]


class Approved(EventPayload):
    """``approval``: written by `assay approve`, signed by the approver's key."""

    kind: ClassVar[str] = k.APPROVAL
    approver: str
    reason: str
    os_uid: int | None = None
    os_user: str = ""
    converged: bool = True
    head: str
    """The ledger head the approver saw."""
    signature: dict[str, str] = Field(default_factory=dict)


class RunFinished(EventPayload):
    """``run.finished``: how the run ended and which commit it kept."""

    kind: ClassVar[str] = k.RUN_FINISHED
    outcome: str
    reason: str = ""
    iterations: int = 0
    best_iteration: int = 0
    best_score: float = 0.0
    workspace_commit: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    unpriced_requests: int = 0


class Checkpointed(EventPayload):
    """``checkpoint``: a signed root over every event before it (written by the ledger)."""

    kind: ClassVar[str] = k.CHECKPOINT
    seq: int
    root: str
    signature: dict[str, str]
    sealed_by: str | None = None


M = TypeVar("M", bound=BaseModel)

EVENT_MODELS: dict[str, type[BaseModel]] = {
    k.MESSAGE: Envelope,
    **{
        m.kind: m
        for m in (
            RunStarted, RunTraced, ModelRequested, ModelResponded, GatesRan, SecurityReviewed,
            ScenariosRan, LoopDecided, EditRejected, WorkspaceCommitted, DependenciesLocked,
            DependenciesRefused, Approved, RunFinished, Checkpointed, TierAdvanced,
            RegressionsFound, PreflightChecked,
        )
    },
}  # fmt: skip
"""Kind -> payload model, for every kind assay writes (plugins may write others)."""


def kind_of(model: type[BaseModel]) -> str:
    """The event kind a payload model is stored under."""
    return k.MESSAGE if model is Envelope else str(getattr(model, "kind"))  # noqa: B009


def dump(payload: BaseModel) -> dict[str, Any]:
    """The JSON a payload is stored as."""
    return payload.model_dump(mode="json")


class Read(BaseModel):
    """An event's payload as its model, with what could not be read."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    payload: BaseModel | None
    """None when the payload does not fit its kind's model (see `problem`), or the kind is one
    assay does not write."""
    problem: str = ""


def read(event: Event) -> Read:
    """`event`'s payload as its kind's model.

    Fields a newer assay added are dropped with a note in `Read.problem`; a payload that does not
    fit at all gives ``payload=None`` and says why, so a report can say so instead of guessing.
    """
    model = EVENT_MODELS.get(event.kind)
    if model is None:
        return Read(payload=None)
    try:
        return Read(payload=model.model_validate(event.payload))
    except ValidationError as exc:
        errors = exc.errors()
        unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
        if len(unknown) == len(errors) and all(len(e["loc"]) == 1 for e in errors):
            kept = {key: v for key, v in event.payload.items() if key not in unknown}
            note = f"event {event.seq} ({event.kind}): fields this assay does not know, " + (
                f"ignored: {', '.join(sorted(unknown))}"
            )
            return Read(payload=model.model_validate(kept), problem=note)
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return Read(
            payload=None,
            problem=f"event {event.seq} ({event.kind}) does not fit its shape: "
            f"{where}: {first['msg']}",
        )


def read_as(model: type[M], event: Event) -> M | None:
    """`event`'s payload as `model`, or None when it is another kind or does not fit."""
    if event.kind != kind_of(model):
        return None
    got = read(event).payload
    return got if isinstance(got, model) else None


def all_of(model: type[M], events: Iterable[Event]) -> Iterator[M]:
    """The payloads of `events` of `model`'s kind that fit it, in ledger order."""
    for event in events:
        got = read_as(model, event)
        if got is not None:
            yield got

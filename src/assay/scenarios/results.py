"""What a validation run found: per step, per scenario, and overall, ready for JSON and JUnit."""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field

__all__ = [
    "CheckRecord",
    "JudgeRecord",
    "ScenarioResult",
    "ScenarioStatus",
    "StepResult",
    "StepStatus",
    "ValidationReport",
]


class StepStatus(enum.StrEnum):
    """How a step was decided."""

    PASSED = "passed"
    """Every check passed and nothing was left for a model."""
    JUDGED = "judged"
    """Checks passed and the judge scored the rest (see ``score``)."""
    FAILED = "failed"
    """A deterministic check failed: the scenario scores 0."""
    ERROR = "error"
    """The step could not run (connection refused, timeout, undefined variable...)."""
    UNJUDGED = "unjudged"
    """Something needs a model and none is configured; the scenario cannot pass."""


class ScenarioStatus(enum.StrEnum):
    """The verdict on one scenario."""

    PASSED = "passed"
    FAILED = "failed"
    SETUP_FAILED = "setup-failed"
    UNJUDGED = "unjudged"


class CheckRecord(BaseModel):
    """One deterministic check and its outcome."""

    check: str
    passed: bool
    detail: str = ""


class JudgeRecord(BaseModel):
    """The judge's samples for one step."""

    model: str
    temperature: float | None
    scores: list[float]
    """One per sample asked."""
    asked: int = 0
    """Samples asked (``len(scores)``)."""
    k: int = 0
    """Samples the judge asks at most; ``asked < k``: the first two agreed and it stopped early."""
    mean: float
    spread: float
    """Population standard deviation of ``scores``."""
    failures: list[str] = Field(default_factory=list)
    reasoning: list[str] = Field(default_factory=list)
    key: str = ""
    """The question's digest (`Judge.cache_key`): equal keys, equal prompt."""
    reused_from: str | None = None
    """Where this verdict was first asked (``iteration 2``, ``this run``) when it was reused
    rather than asked again; None when the judge was asked for this step."""


class StepResult(BaseModel):
    """One step's outcome."""

    phase: str
    """``setup`` or ``step``."""
    index: int
    description: str
    where: str
    """``file:line`` of the step."""
    action: str = ""
    status: StepStatus
    score: float | None = None
    """0-100; None when unjudged."""
    decided_without_model: bool = False
    checks: list[CheckRecord] = Field(default_factory=list)
    judge: JudgeRecord | None = None
    left_for_judge: list[str] = Field(default_factory=list)
    """Sentences of ``expect`` no rule could read."""
    observed: str = ""
    """A one-line summary: status and latency, or exit code."""
    message: str = ""
    attempts: int = 1
    duration_s: float = 0.0


class ScenarioResult(BaseModel):
    """One scenario's outcome and score."""

    id: str
    file: str
    description: str
    weight: float
    status: ScenarioStatus
    score: float
    setup: list[StepResult] = Field(default_factory=list)
    steps: list[StepResult] = Field(default_factory=list)
    message: str = ""
    duration_s: float = 0.0

    @property
    def failing_steps(self) -> list[StepResult]:
        """Setup and judged steps that did not pass."""
        return [
            s
            for s in [*self.setup, *self.steps]
            if s.status in (StepStatus.FAILED, StepStatus.ERROR, StepStatus.UNJUDGED)
            or (s.score is not None and s.score < 100 and s.status is StepStatus.JUDGED)
        ]


class ValidationReport(BaseModel):
    """The whole run: satisfaction, the threshold, and every scenario."""

    target: str
    satisfaction: float
    threshold: float
    passed: bool
    summary: str
    scenarios: list[ScenarioResult]
    judge_model: str | None = None
    judge_samples: int = 0
    steps_total: int = 0
    steps_without_model: int = 0
    judge_calls: int = 0
    """Model calls the judge made (the samples asked, over the steps asked)."""
    judge_calls_saved: int = 0
    """Samples not asked because a step's first two agreed (early stop), over the steps asked."""
    judge_concurrency: int = 1
    """How many steps' judgements were asked at once, at most."""
    judge_duration_s: float = 0.0
    """Wall time of the judging phase, after every scenario's steps had run."""
    judge_reused: int = 0
    """Judged steps whose verdict was reused from an identical earlier question."""
    duration_s: float = 0.0

"""The holdout seam: the loop sees scenarios only through a `Validator` callback.

The CLI wires the scenario runner into a callback; this package never imports `assay.scenarios`.
Whatever the callback returns is cut down to the configured leak level by `sanitize` before it is
recorded or shown to any role:

- ``none``: only the satisfaction score;
- ``titles``: plus each failed scenario's title and the observed status;
- ``reasons``: plus the judge's reasons.

Some things are kept at every level, because they are for the person running assay and the
loop's own bookkeeping, not for a role: the judge's call counts; `ValidationResult.weakest`, the
one step that cost the most (the ledger, `assay runs` and the run's last line say what kept the
score below 100 with it); the tiers (`tier`, `tiers`: which were run, which exist) and each
scenario's pass or fail by id (`verdicts`), which ``--stratified`` and ``--block-on-regression``
decide with. `assay.factory.feedback` never reads `weakest`, and names a scenario from
`verdicts` only when the leak level already showed it: the coder learns no more than its level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from assay.messages import Design

__all__ = ["LeakLevel", "ScenarioOutcome", "ValidationResult", "Validator", "sanitize"]

LeakLevel = Literal["none", "titles", "reasons"]


class ScenarioOutcome(BaseModel):
    """One scenario's result as the validator reports it."""

    id: str
    title: str = ""
    passed: bool
    score: float = Field(ge=0, le=100)
    observed: str = ""
    """What was seen, e.g. ``GET /items -> 500``."""
    reasons: str = ""
    """The judge's or assertion's explanation."""
    tier: int | None = None
    """The scenario's tier (None: the validator does not say)."""


class ValidationResult(BaseModel):
    """The holdout verdict for one iteration."""

    satisfaction: float = Field(ge=0, le=100)
    scenarios: list[ScenarioOutcome] = Field(default_factory=list)
    error: str = ""
    """Set when the service could not be validated at all (e.g. it never became healthy)."""
    weakest: str = ""
    """For the operator only (never in feedback): the lowest-scoring step and why, one line;
    empty when every step scored 100."""
    judge_calls: int = 0
    """Model calls the scenario judge made in this validation."""
    judge_reused: int = 0
    """Judged steps whose verdict was reused from an identical earlier question (no call)."""
    tier: int | None = None
    """The highest tier run (scenarios of tiers above it were not run); None: every scenario."""
    tiers: list[int] = Field(default_factory=list)
    """Every tier the scenario set has, run or not (a scenario without a tier is tier 1)."""
    verdicts: dict[str, bool] = Field(default_factory=dict)
    """Scenario id -> passed, for every scenario run (`sanitize` fills it from `scenarios`)."""
    judge_calls_saved: int = 0
    """Judge samples not asked because a step's first two samples agreed (early stop)."""


class Validator(Protocol):
    """Runs the holdout scenarios against the workspace and returns a verdict."""

    async def __call__(
        self, workspace: Path, design: Design, iteration: int, *, tier: int | None = None
    ) -> ValidationResult:
        """Validate the service in `workspace` (started as the design says). With `tier`, only
        the scenarios of tiers <= `tier` are run (the loop passes it only in a stratified run)."""
        ...


def sanitize(result: ValidationResult, leak: LeakLevel) -> ValidationResult:
    """`result` reduced to what `leak` allows the loop to see."""
    verdicts = result.verdicts or {s.id: s.passed for s in result.scenarios}
    result = result.model_copy(update={"verdicts": verdicts})
    if leak == "reasons":
        return result
    operator = result.model_dump(
        include={
            "weakest",
            "judge_calls",
            "judge_reused",
            "judge_calls_saved",
            "tier",
            "tiers",
            "verdicts",
        }
    )
    if leak == "none":
        return ValidationResult.model_validate(
            {"satisfaction": result.satisfaction, "error": result.error and "error", **operator}
        )
    shown = {"id", "title", "passed", "score", "observed", "tier"}  # not the judge's reasons
    kept = [ScenarioOutcome.model_validate(s.model_dump(include=shown)) for s in result.scenarios]
    return ValidationResult.model_validate(
        {"satisfaction": result.satisfaction, "scenarios": kept, "error": result.error, **operator}
    )

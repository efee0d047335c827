"""The holdout seam: the loop sees scenarios only through a `Validator` callback.

The CLI wires the scenario runner into a callback; this package never imports `assay.scenarios`.
Whatever the callback returns is cut down to the configured leak level by `sanitize` before it is
recorded or shown to any role:

- ``none``: only the satisfaction score;
- ``titles``: plus each failed scenario's title and the observed status;
- ``reasons``: plus the judge's reasons.

Two things are kept at every level, because they are for the person running assay, not for a
role: the judge's call counts, and `ValidationResult.weakest`, the one step that cost the most
(the ledger, `assay runs` and the run's last line say what kept the score below 100 with it).
`assay.factory.feedback` never reads `weakest`: the coder learns no more than its leak level.
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
    judge_calls_saved: int = 0
    """Judge samples not asked because a step's first two samples agreed (early stop)."""


class Validator(Protocol):
    """Runs the holdout scenarios against the workspace and returns a verdict."""

    async def __call__(self, workspace: Path, design: Design, iteration: int) -> ValidationResult:
        """Validate the service in `workspace` (started as the design says)."""
        ...


def sanitize(result: ValidationResult, leak: LeakLevel) -> ValidationResult:
    """`result` reduced to what `leak` allows the loop to see."""
    if leak == "reasons":
        return result
    operator = result.model_dump(
        include={"weakest", "judge_calls", "judge_reused", "judge_calls_saved"}
    )
    if leak == "none":
        return ValidationResult.model_validate(
            {"satisfaction": result.satisfaction, "error": result.error and "error", **operator}
        )
    kept = [
        ScenarioOutcome(id=s.id, title=s.title, passed=s.passed, score=s.score, observed=s.observed)
        for s in result.scenarios
    ]
    return ValidationResult.model_validate(
        {"satisfaction": result.satisfaction, "scenarios": kept, "error": result.error, **operator}
    )

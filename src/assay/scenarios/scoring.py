"""Scores: a step's, a scenario's (mean of steps, 0 on a deterministic failure), satisfaction."""

from __future__ import annotations

from collections.abc import Sequence

from assay.scenarios.results import ScenarioResult, ScenarioStatus, StepResult, StepStatus

__all__ = ["DEFAULT_THRESHOLD", "satisfaction", "score_scenario"]

DEFAULT_THRESHOLD = 95.0


def score_scenario(
    setup: Sequence[StepResult], steps: Sequence[StepResult], *, threshold: float
) -> tuple[ScenarioStatus, float, str]:
    """The scenario's status, score (0-100) and a one-line reason."""
    for s in setup:
        if s.status in (StepStatus.FAILED, StepStatus.ERROR, StepStatus.UNJUDGED):
            return ScenarioStatus.SETUP_FAILED, 0.0, f"setup step {s.index + 1} failed: {s.message}"
    broken = [s for s in steps if s.status in (StepStatus.FAILED, StepStatus.ERROR)]
    if broken:
        first = broken[0]
        return (
            ScenarioStatus.FAILED,
            0.0,
            f"step {first.index + 1} ({first.where}): {first.message}",
        )
    if not steps:
        return ScenarioStatus.FAILED, 0.0, "no steps ran"
    score = sum(s.score or 0.0 for s in steps) / len(steps)
    unjudged = [s for s in steps if s.status is StepStatus.UNJUDGED]
    if unjudged:
        return (
            ScenarioStatus.UNJUDGED,
            score,
            f"{len(unjudged)} step(s) need a judge model and none is configured",
        )
    if score < threshold:
        return ScenarioStatus.FAILED, score, f"score {score:.1f} below {threshold:g}"
    return ScenarioStatus.PASSED, score, ""


def satisfaction(results: Sequence[ScenarioResult]) -> float:
    """Weighted mean of scenario scores, 0-100 (0 for no scenarios)."""
    total = sum(r.weight for r in results)
    if total <= 0:
        return 0.0
    return sum(r.score * r.weight for r in results) / total

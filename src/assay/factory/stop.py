"""Scores and stop conditions: converged, stalled (with escalation), oscillating, blocked, max
iterations.

**Oscillating**: after changes, the workspace is back to an earlier iteration's tree. **Blocked**
(decided by the loop, which knows the roles): a role that was asked returned no change (an empty
changeset, an unchanged suite or design, or changes that left the workspace as it was), or the
same finding came back and the only role that may fix it was not asked; the reason names the
finding and quotes the role's own explanation.

The budget stop is raised by the model observer (`assay.factory.budget`). An iteration's score is
0-100: 50 x the share of required gates that pass, + 40 x holdout satisfaction / 100, + 10 /
(1 + blocking findings). An improvement is a score above the best so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from assay.gates.base import GateReport, GateStatus

__all__ = ["Decision", "IterationScore", "StopTracker", "score_iteration"]

Decision = Literal[
    "continue",
    "escalate",
    "converged",
    "stalled",
    "oscillating",
    "blocked",
    "budget",
    "max-iterations",
]


class IterationScore(BaseModel):
    """How one iteration fared."""

    score: float
    gates_passed: int
    gates_required: int
    blocking_findings: int
    satisfaction: float | None
    review_approved: bool | None
    converged: bool
    regressions: int = 0
    """Held-out scenarios that passed earlier and fail now, when they refuse convergence
    (``--block-on-regression``)."""


def score_iteration(
    report: GateReport, satisfaction: float | None, threshold: float, *, regressions: int = 0
) -> IterationScore:
    """Score `report` (which includes the review gate) and the holdout satisfaction; any of
    `regressions` (counted only when they block) refuses convergence."""
    required = [
        r for r in report.results if r.required and r.status is not GateStatus.NOT_APPLICABLE
    ]
    passed = [r for r in required if r.status is GateStatus.PASSED]
    blocking = _blocking_findings(report)
    ratio = len(passed) / len(required) if required else 0.0
    sat = 100.0 if satisfaction is None else satisfaction
    score = 50 * ratio + 40 * sat / 100 + 10 / (1 + blocking)
    review = next((r for r in report.results if r.gate == "security-review"), None)
    converged = bool(required) and not blocking and sat >= threshold and not regressions
    return IterationScore(
        score=round(score, 4),
        gates_passed=len(passed),
        gates_required=len(required),
        blocking_findings=blocking,
        satisfaction=satisfaction,
        review_approved=None if review is None else review.status is GateStatus.PASSED,
        converged=converged,
        regressions=regressions,
    )


def _blocking_findings(report: GateReport) -> int:
    """Unwaived findings of the blocking gates; a blocking gate with none counts as one."""
    return sum(
        len([f for f in r.findings if f.waived_by is None]) or 1
        for r in report.results
        if r.blocking
    )


@dataclass(slots=True)
class StopTracker:
    """Keeps the best iteration, counts stalls and remembers workspace trees."""

    max_iterations: int
    stall_iterations: int
    can_escalate: bool
    best_score: float = -1.0
    best_iteration: int = 0
    best_commit: str = ""
    stalls: int = 0
    escalated: bool = False
    trees: dict[str, int] = field(default_factory=dict)

    def repeated(self, iteration: int, tree: str) -> int | None:
        """The earlier iteration whose workspace had `tree`, or None (remembers this one)."""
        earlier = self.trees.get(tree)
        if earlier is None:
            self.trees[tree] = iteration
        return earlier

    def rebase(self) -> None:
        """Forget the best score and the stalls: a stratified run moved to a higher tier, whose
        satisfaction is not comparable with the lower tier's."""
        self.best_score, self.stalls = -1.0, 0

    def decide(self, iteration: int, result: IterationScore, commit: str) -> tuple[Decision, str]:
        """The decision after a scored iteration, and why."""
        if result.score > self.best_score:
            self.best_score, self.best_iteration, self.best_commit = result.score, iteration, commit
            self.stalls = 0
        else:
            self.stalls += 1
        if result.converged:
            return "converged", f"all required gates pass (score {result.score:.1f})"
        if self.stalls >= self.stall_iterations:
            if self.can_escalate and not self.escalated and iteration < self.max_iterations:
                self.escalated = True
                self.stalls = 0
                return "escalate", f"no improvement in {self.stall_iterations} iteration(s)"
            return "stalled", f"no improvement in {self.stall_iterations} iteration(s)"
        if iteration >= self.max_iterations:
            return "max-iterations", f"reached {self.max_iterations} iteration(s)"
        return "continue", f"score {result.score:.1f}, best {self.best_score:.1f}"

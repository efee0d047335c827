"""Tiers and regressions of the held-out scenarios: what ``--stratified`` and
``--block-on-regression`` decide with.

**Stratified** (OctopusGarden's ``--stratified``): scenarios carry a tier (1, 2, 3; none given is
tier 1). The loop starts at the lowest tier and asks the validator for tiers <= N only, so easy
scenarios cannot mask hard ones and the higher tiers cost nothing yet. When tiers <= N pass the
threshold the loop moves to the next tier present (`next_tier`) and validates again at once, on
the same commit, so the coder's next feedback already names the new tier's failures. The run
converges only once the highest tier is in.

**Regressions**: a scenario that passed in an earlier iteration and fails now. `PassHistory`
remembers when each scenario first passed; with ``--block-on-regression`` any regression refuses
convergence and is named in the coder's feedback (at the leak level). Like OctopusGarden, "passed"
is the scenario's own verdict at the threshold; unlike its compare-with-the-last-iteration rule,
a scenario stays regressed until it passes again, however many iterations it has failed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

__all__ = ["PassHistory", "RegressedScenario", "next_tier"]


def next_tier(tiers: Iterable[int], current: int) -> int | None:
    """The lowest tier above `current` that has scenarios, or None: `current` is the last."""
    return min((t for t in tiers if t > current), default=None)


class RegressedScenario(BaseModel):
    """A held-out scenario that passed in an earlier iteration and fails now."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    passed_in: int
    """The first iteration it passed in."""


class PassHistory:
    """When each scenario first passed; `check` finds the regressions of one validation."""

    def __init__(self) -> None:
        self.first_passed: dict[str, int] = {}

    def check(self, iteration: int, verdicts: Mapping[str, bool]) -> list[RegressedScenario]:
        """The scenarios of `verdicts` (id -> passed) that passed before `iteration` and fail in
        it, by id; then the passes of `iteration` are remembered. A scenario not run (a tier
        not reached yet) is no regression."""
        regressed = [
            RegressedScenario(id=sid, passed_in=self.first_passed[sid])
            for sid, passed in sorted(verdicts.items())
            if not passed and self.first_passed.get(sid, iteration) < iteration
        ]
        for sid, passed in verdicts.items():
            if passed:
                self.first_passed.setdefault(sid, iteration)
        return regressed

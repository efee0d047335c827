"""What kept a run's score below 100, read from its ledger: one line for `assay run` and `assay
runs`, and a field of the report.

An iteration's score is 50 x the share of required gates passing + 40 x satisfaction / 100 + 10 /
(1 + blocking findings) (`assay.factory.stop`). For the best iteration this names each part that
lost points, with the points, and what lost them: the gates that did not pass, the holdout step
that scored lowest (the validator's operator-only ``weakest`` line), the blocking findings.
"""

from __future__ import annotations

from collections.abc import Iterable

from assay.factory import events as ev
from assay.factory.stop import IterationScore
from assay.gates.base import GateStatus
from assay.ledger import Event

__all__ = ["shortfall"]

_FULL = 99.995
"""A score that prints as 100.0 lost nothing worth naming."""


def _failed_gates(gates: ev.GatesRan | None, review: ev.SecurityReviewed | None) -> list[str]:
    results = gates.report.results if gates else []
    failed = [
        f"{r.gate} {r.status}"
        for r in results
        if r.required and r.status not in (GateStatus.PASSED, GateStatus.NOT_APPLICABLE)
    ]
    if review is not None and review.verdict != "approve":
        failed.append(f"security-review {review.verdict}")
    return failed


def _parts(
    scores: IterationScore,
    gates: ev.GatesRan | None,
    review: ev.SecurityReviewed | None,
    scenarios: ev.ScenariosRan | None,
) -> list[str]:
    parts = []
    passed, required = scores.gates_passed, scores.gates_required
    if passed < required:
        lost = 50 * (1 - passed / required)
        names = ", ".join(_failed_gates(gates, review)) or f"{required - passed} not passed"
        parts.append(f"gates -{lost:.1f}: {names}")
    sat = scores.satisfaction
    if sat is not None and sat < 100:
        result = scenarios.result if scenarios else None
        what = (result.weakest or result.error if result else "") or (
            scenarios.error if scenarios and scenarios.error else ""
        )
        text = f"scenarios -{40 * (1 - sat / 100):.1f} (satisfaction {sat:.1f})"
        parts.append(f"{text}: {what}" if what else text)
    blocking = scores.blocking_findings
    if blocking > 0:
        parts.append(f"blocking findings -{10 - 10 / (1 + blocking):.1f}: {blocking}")
    return parts


def shortfall(events: Iterable[Event]) -> str | None:
    """What kept the best iteration below 100, one line; empty at 100; None when no iteration
    was scored (the run stopped before its first decision)."""
    decisions: dict[int, ev.LoopDecided] = {}
    gates: dict[int, ev.GatesRan] = {}
    reviews: dict[int, ev.SecurityReviewed] = {}
    scenarios: dict[int, ev.ScenariosRan] = {}
    best = 0
    for event in events:
        match ev.read(event).payload:
            case ev.LoopDecided() as decided:
                decisions[decided.iteration] = decided
                best = decided.best_iteration
            case ev.RunFinished() as finished:
                best = finished.best_iteration
            case ev.GatesRan() as ran:
                gates[ran.iteration] = ran
            case ev.SecurityReviewed() as review:
                reviews[review.iteration] = review
            case ev.ScenariosRan() as validated:
                scenarios[validated.iteration] = validated
    decision = decisions.get(best)
    scores = decision.scores if decision else None
    if scores is None:
        return None
    if scores.score >= _FULL:
        return ""
    parts = _parts(scores, gates.get(best), reviews.get(best), scenarios.get(best))
    return f"iteration {best} scored {scores.score:.1f}: " + ("; ".join(parts) or "unknown")

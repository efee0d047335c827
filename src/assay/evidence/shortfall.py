"""What kept a run's score below 100, read from its ledger: one line for `assay run` and `assay
runs`, and a field of the report.

An iteration's score is 50 x the share of required gates passing + 40 x satisfaction / 100 + 10 /
(1 + blocking findings) (`assay.factory.stop`). For the best iteration this names each part that
lost points, with the points, and what lost them: the gates that did not pass, the holdout step
that scored lowest (the validator's operator-only ``weakest`` line), the blocking findings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from assay.ledger import Event
from assay.ledger import kinds as k

__all__ = ["shortfall"]

_FULL = 99.995
"""A score that prints as 100.0 lost nothing worth naming."""


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _failed_gates(gate_payload: dict[str, Any], review: dict[str, Any]) -> list[str]:
    report = gate_payload.get("report")
    results = report.get("results", []) if isinstance(report, dict) else []
    failed = [
        f"{r.get('gate', '?')} {r.get('status', '?')}"
        for r in results
        if isinstance(r, dict)
        and r.get("required", True)
        and r.get("status") not in ("passed", "not-applicable")
    ]
    if review and review.get("verdict") not in (None, "approve"):
        failed.append(f"security-review {review.get('verdict')}")
    return failed


def _parts(
    scores: dict[str, Any],
    gates: dict[str, Any],
    review: dict[str, Any],
    scenarios: dict[str, Any],
) -> list[str]:
    parts = []
    passed, required = _num(scores.get("gates_passed")), _num(scores.get("gates_required"))
    if passed is not None and required is not None and passed < required:
        lost = 50 * (1 - passed / required)
        names = ", ".join(_failed_gates(gates, review)) or f"{required - passed:.0f} not passed"
        parts.append(f"gates -{lost:.1f}: {names}")
    sat = _num(scores.get("satisfaction"))
    if sat is not None and sat < 100:
        result = scenarios.get("result") if isinstance(scenarios.get("result"), dict) else {}
        assert isinstance(result, dict)
        what = str(result.get("weakest") or result.get("error") or scenarios.get("error") or "")
        text = f"scenarios -{40 * (1 - sat / 100):.1f} (satisfaction {sat:.1f})"
        parts.append(f"{text}: {what}" if what else text)
    blocking = _num(scores.get("blocking_findings")) or 0
    if blocking > 0:
        parts.append(f"blocking findings -{10 - 10 / (1 + blocking):.1f}: {blocking:.0f}")
    return parts


def shortfall(events: Iterable[Event]) -> str | None:
    """What kept the best iteration below 100, one line; empty at 100; None when no iteration
    was scored (the run stopped before its first decision)."""
    by_iteration: dict[str, dict[int, dict[str, Any]]] = {
        k.LOOP_DECISION: {}, k.GATE_RESULT: {}, k.SECURITY_REVIEW: {}, k.SCENARIO_RESULT: {},
    }  # fmt: skip
    best = 0
    for event in events:
        p = event.payload
        if event.kind in (k.LOOP_DECISION, k.RUN_FINISHED) and isinstance(
            p.get("best_iteration"), int
        ):
            best = p["best_iteration"]
        if event.kind in by_iteration and isinstance(p.get("iteration"), int):
            by_iteration[event.kind][p["iteration"]] = p
    decision = by_iteration[k.LOOP_DECISION].get(best, {})
    scores = decision.get("scores") if isinstance(decision.get("scores"), dict) else None
    score = _num(scores.get("score")) if scores else None
    if scores is None or score is None:
        return None
    if score >= _FULL:
        return ""
    parts = _parts(
        scores,
        by_iteration[k.GATE_RESULT].get(best, {}),
        by_iteration[k.SECURITY_REVIEW].get(best, {}),
        by_iteration[k.SCENARIO_RESULT].get(best, {}),
    )
    return f"iteration {best} scored {score:.1f}: " + ("; ".join(parts) or "unknown")

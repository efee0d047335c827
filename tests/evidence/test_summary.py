"""`summarize` reads the loop's event shapes: one review per iteration, numeric scores only."""

from __future__ import annotations

from pathlib import Path

from assay.evidence.chart import scores_chart
from assay.evidence.summary import summarize
from assay.ledger import Ledger


def test_loop_shaped_events(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        ledger.append(
            "run.started", {"user": "alice", "settings": {"approval": {"required": False}}}
        )
        review = {"kind": "security-review", "verdict": "approve", "findings": [], "summary": "ok"}
        ledger.append("message", {"sender": "security-reviewer", "iteration": 1, "message": review})
        ledger.append(
            "security.review",
            {"iteration": 1, "verdict": "approve", "summary": "ok", "findings": []},
        )
        ledger.append(
            "loop.decision",
            {"iteration": 1, "decision": "converged", "reason": "done",
             "scores": {"score": 97.5, "satisfaction": 100.0, "gates_passed": 6,
                        "review_approved": True, "satisfaction_spread": None}},
        )  # fmt: skip
        ledger.append("run.finished", {"outcome": "converged"})
        events = list(ledger.events())
    s = summarize(events, run_id="r")
    assert len(s.security_reviews) == 1
    assert s.iterations[0].scores == {"score": 97.5, "satisfaction": 100.0, "gates_passed": 6.0}
    assert s.releasable, s.releasable_reasons
    svg = scores_chart(s.iterations)
    assert svg.count("<polyline") == 2  # gates_passed is a count, not charted


def test_not_releasable_reasons(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        ledger.append("run.started", {"settings": {"approval": {"required": True}}})
        ledger.append("security.review", {"iteration": 2, "verdict": "reject", "findings": []})
        ledger.append("run.finished", {"outcome": "budget"})
        events = list(ledger.events())
    s = summarize(events, run_id="r")
    assert s.releasable_reasons == [
        "the run's outcome is 'budget', not 'converged'",
        "the last security review rejected the change",
        "policy requires 1 approval(s); 0 recorded",
    ]

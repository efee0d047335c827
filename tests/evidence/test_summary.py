"""`summarize` reads the loop's typed events: one review per iteration, numeric scores only."""

from __future__ import annotations

from pathlib import Path

from assay.evidence.chart import scores_chart
from assay.evidence.summary import summarize
from assay.factory import events as ev
from assay.factory.stop import IterationScore
from assay.ledger import Ledger
from assay.messages import Envelope, SecurityReview


def _append(ledger: Ledger, payload: ev.EventPayload | Envelope) -> None:
    ledger.append(ev.kind_of(type(payload)), ev.dump(payload))


def test_loop_shaped_events(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        _append(ledger, ev.RunStarted(
            spec_digest="d", user="alice", settings={"approval": {"required": False}},
        ))  # fmt: skip
        review = SecurityReview(verdict="approve", summary="ok")
        _append(ledger, Envelope(
            run_id=ledger.run_id, iteration=1, sender="security-reviewer", model="m",
            message=review,
        ))  # fmt: skip
        _append(ledger, ev.SecurityReviewed(iteration=1, verdict="approve", summary="ok"))
        scores = IterationScore(
            score=97.5, gates_passed=6, gates_required=6, blocking_findings=0, satisfaction=100.0,
            review_approved=True, converged=True,
        )  # fmt: skip
        _append(ledger, ev.LoopDecided(
            iteration=1, decision="converged", reason="done", scores=scores,
        ))  # fmt: skip
        _append(ledger, ev.RunFinished(outcome="converged"))
        events = list(ledger.events())
    s = summarize(events, run_id="r")
    assert len(s.security_reviews) == 1
    assert s.iterations[0].scores == {
        "score": 97.5, "satisfaction": 100.0, "gates_passed": 6.0, "gates_required": 6.0,
        "blocking_findings": 0.0,
    }  # fmt: skip
    assert s.releasable, s.releasable_reasons
    assert s.unreadable == []
    svg = scores_chart(s.iterations)
    assert svg.count("<polyline") == 2  # score and satisfaction; counts are not charted


def test_not_releasable_reasons(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        _append(ledger, ev.RunStarted(spec_digest="d", settings={"approval": {"required": True}}))
        _append(ledger, ev.SecurityReviewed(iteration=2, verdict="reject"))
        _append(ledger, ev.RunFinished(outcome="budget"))
        events = list(ledger.events())
    s = summarize(events, run_id="r")
    assert s.releasable_reasons == [
        "the run's outcome is 'budget', not 'converged'",
        "the last security review rejected the change",
        "policy requires 1 approval(s); 0 recorded",
    ]

"""Ledger events are typed: what a scripted run writes reads back through its kind's model,
exactly, and the report is built from that ledger (not from hand-made dicts)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.config import FactoryConfig, Settings
from assay.evidence.summary import summarize
from assay.factory import events as ev
from assay.factory.loop import Factory, RoleModels
from assay.factory.strata import RegressedScenario
from assay.gates.bandit import BanditGate
from assay.gates.ruff import RuffGate
from assay.ledger import Event, Ledger, verify_run
from assay.ledger import kinds as k
from assay.ledger.keys import Signer
from assay.messages import PreflightFinding, PreflightReport, PreflightReview, PreflightScores

HERE = Path(__file__).parent


def _scripted_app() -> Any:
    if "scripted_app" in sys.modules:
        return sys.modules["scripted_app"]
    spec = importlib.util.spec_from_file_location("scripted_app", HERE / "scripted_app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["scripted_app"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def scripted_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    """A whole scripted run (two iterations: defects, then fixed) with real gates."""
    import asyncio

    app = _scripted_app()
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    run_dir = tmp_path_factory.mktemp("events") / "run"
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig()), models=models,
        gates=[RuffGate(), BanditGate()], validator=app.validator, signer=Signer.generate(),
    )  # fmt: skip
    outcome = asyncio.run(factory.run())
    assert outcome.outcome == "converged"
    with Ledger.open(run_dir, create=False) as ledger:
        return run_dir, list(ledger.events())


def test_every_event_of_a_scripted_run_round_trips_through_its_model(
    scripted_run: tuple[Path, list[Event]],
) -> None:
    _, events = scripted_run
    kinds = {e.kind for e in events}
    # the loop's own kinds, all of them in a run that iterates, reviews and validates
    assert {
        k.RUN_STARTED, k.MESSAGE, k.MODEL_REQUEST, k.MODEL_RESPONSE, k.WORKSPACE_COMMIT,
        k.GATE_RESULT, k.SECURITY_REVIEW, k.SCENARIO_RESULT, k.LOOP_DECISION, k.RUN_FINISHED,
        k.CHECKPOINT,
    } <= kinds  # fmt: skip
    for event in events:
        got = ev.read(event)
        assert got.problem == "", got.problem
        assert got.payload is not None, event.kind
        # exactly what was stored: no field the model does not know, none coerced
        again = got.payload.model_dump(mode="json", exclude_unset=True)
        assert again == event.payload, event.kind


def test_the_report_is_built_from_the_ledger_the_scripted_run_wrote(
    scripted_run: tuple[Path, list[Event]],
) -> None:
    run_dir, events = scripted_run
    assert verify_run(run_dir).ok
    s = summarize(events, run_id=run_dir.name)
    assert s.unreadable == []
    assert s.outcome == "converged" and s.complete
    assert [r.decision for r in s.iterations] == ["continue", "converged"]
    last = s.iterations[-1]
    assert last.scores["score"] == pytest.approx(100.0)
    assert last.scores["gates_required"] >= 2
    assert last.gates == {"ruff": "passed", "bandit": "passed"}
    assert s.gate_report is not None and s.gate_report.passed
    assert s.scenario_score == 100.0 and all(row.passed for row in s.scenarios)
    assert [r.verdict for r in s.security_reviews] == ["reject", "approve"]
    responses = [ev.ModelResponded.model_validate(e.payload) for e in events
                 if e.kind == k.MODEL_RESPONSE]  # fmt: skip
    assert s.total_cost.requests == len(responses) > 0
    assert s.total_cost.tokens_in == sum(r.tokens_in for r in responses)
    assert s.shortfall == ""
    first = s.iterations[0]
    assert first.scores["score"] < 100 and first.decision == "continue"


def _event(kind: str, payload: dict[str, Any], seq: int = 7) -> Event:
    return Event(
        run_id="r", seq=seq, time="2026-01-01T00:00:00Z", kind=kind, step=None,
        payload=payload, prev_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip


def test_an_older_ledgers_unscored_decision_reads_as_not_scored() -> None:
    old = {"iteration": 1, "decision": "budget", "reason": "out of tokens", "scores": {}}
    got = ev.read(_event(k.LOOP_DECISION, old))
    assert isinstance(got.payload, ev.LoopDecided) and got.payload.scores is None
    assert got.problem == ""


def test_a_field_a_newer_assay_wrote_is_set_aside_with_a_note() -> None:
    newer = {"outcome": "converged", "iterations": 2, "carbon_grams": 3.5}
    got = ev.read(_event(k.RUN_FINISHED, newer))
    assert isinstance(got.payload, ev.RunFinished) and got.payload.outcome == "converged"
    assert "carbon_grams" in got.problem and "event 7 (run.finished)" in got.problem


def test_a_payload_that_does_not_fit_is_reported_not_guessed() -> None:
    bad = _event(k.MODEL_RESPONSE, {"role": "coder", "model": "m", "tokens_in": "lots"}, seq=3)
    got = ev.read(bad)
    assert got.payload is None
    assert "event 3 (model.response)" in got.problem and "tokens_in" in got.problem
    s = summarize([bad], run_id="r")
    assert s.unreadable == [got.problem]
    assert s.total_cost.requests == 0  # left out of the figures, and said so


def test_an_unreadable_approval_policy_fails_closed() -> None:
    started = ev.RunStarted(spec_digest="d", settings={"approval": {"required": "maybe"}})
    s = summarize([_event(k.RUN_STARTED, ev.dump(started), seq=1)], run_id="r")
    assert s.approval_required is True
    assert any("approval" in u for u in s.unreadable)


def test_kinds_a_scripted_run_does_not_write_round_trip_too() -> None:
    built: list[ev.EventPayload] = [
        ev.PreflightChecked(
            report=PreflightReport(
                spec="greeter",
                source="spec.md",
                threshold=0.8,
                passed=False,
                model="m:x",
                findings=[
                    PreflightFinding(
                        rule_id="fixed-port",
                        severity="warning",
                        line=3,
                        message="port 8080",
                        fix="read PORT",
                    )
                ],
                review=PreflightReview(
                    scores=PreflightScores(
                        completeness=0.5, ambiguity=0.6, testability=0.7, consistency=0.9
                    ),
                    overall=0.55,
                    questions=["which status answers a duplicate?"],
                    summary="s",
                ),
            )
        ),
        ev.EditRejected(iteration=1, role="coder", path="tests/t.py", reason="protected"),
        ev.DependenciesLocked(
            iteration=0,
            requested=["fastapi"],
            lock_sha256="a" * 64,
            python="3.11",
            platform="linux",
            components=[
                ev.LockedComponent(
                    name="fastapi",
                    version="0.115.0",
                    direct=True,
                    hashes=["sha256:" + "b" * 64],
                    licence="MIT",
                )
            ],
            lock_blob="c" * 64,
        ),
        ev.DependenciesRefused(requested=["leftpad"], reasons=["not on the allow-list"]),
        ev.RunTraced(trace_id="a" * 32, span_id="b" * 16),  # written only when tracing is on
        ev.Approved(
            approver="bob",
            reason="reviewed",
            os_uid=1001,
            os_user="bob",
            head="d" * 64,
            signature={"keyid": "k", "public_key": "p", "sig": "s"},
        ),
        ev.WorkspaceCommitted(
            iteration=1,
            commit="e" * 40,
            tree="f" * 40,
            message="autofix",
            role="coder",
            autofix=ev.AutofixRecord(files=["a.py"], changed=["a.py"], tools={"ruff": "0.9"}),
        ),
        ev.TierAdvanced(iteration=2, from_tier=1, to_tier=3, satisfaction=100.0),
        ev.RegressionsFound(iteration=3, scenarios=[RegressedScenario(id="health", passed_in=1)]),
    ]
    assert {p.kind for p in built} | {
        k.RUN_STARTED, k.MESSAGE, k.MODEL_REQUEST, k.MODEL_RESPONSE, k.GATE_RESULT,
        k.SECURITY_REVIEW, k.SCENARIO_RESULT, k.LOOP_DECISION, k.RUN_FINISHED, k.CHECKPOINT,
    } == set(ev.EVENT_MODELS)  # fmt: skip
    for payload in built:
        stored = ev.dump(payload)
        got = ev.read(_event(payload.kind, stored))
        assert got.payload == payload and got.problem == ""


def test_the_loop_refuses_a_payload_field_it_does_not_know() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="extra"):
        ev.RunFinished(outcome="converged", iteratons=2)  # type: ignore[call-arg]

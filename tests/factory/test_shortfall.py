"""What kept the score below 100, said by the run's last line, `assay runs` and the report; and
the judge's verdicts reused by the loop's second iteration (the service answered the same)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models.function import FunctionModel
from rich.console import Console

from assay.agents.judge import Judge
from assay.cli import main
from assay.commands._holdout import ScenarioValidator
from assay.commands.runs import list_runs, print_shortfall, run_shortfall
from assay.config import FactoryConfig, Settings
from assay.evidence.shortfall import shortfall
from assay.evidence.summary import summarize
from assay.factory import events as ev
from assay.factory.loop import Factory, RoleModels
from assay.factory.stop import IterationScore
from assay.factory.validator import ValidationResult
from assay.gates.base import GateReport, GateResult, GateStatus
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.ledger import kinds as k
from assay.messages import (
    Changeset,
    Design,
    FileChange,
    SecurityFinding,
    SecurityReview,
    Spec,
    TestFile,
    TestSuite,
)
from assay.scenarios.loader import load_dir
from assay.testing import scripted
from tests.scenarios.conftest import scripted_judge

SCENARIO = """\
id: health
description: The service says it is healthy
steps:
  - description: Ask for health
    request: {method: GET, path: /health}
    expect: "Status 200. The reply says that the service is healthy."
  - description: Ask again
    request: {method: GET, path: /health}
    expect: "Status 200. The reply says again that the service is healthy."
"""

SERVER = '''"""A health endpoint."""
{extra}
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    """Answers GET /health."""

    def do_GET(self) -> None:  # noqa: N802
        """Reply with the status."""
        body = json.dumps({{"status": "ok"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    """Serve on $PORT."""
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
'''

DESIGN = Design(summary="Health service.", package="svc", start_command="python -m svc",
                file_plan=["src/svc/__init__.py", "src/svc/__main__.py"])  # fmt: skip
SUITE = TestSuite(files=[TestFile(path="tests/test_svc.py",
                                  content="import svc\n\n\ndef test_import() -> None:\n"
                                  "    assert svc.__doc__\n")])  # fmt: skip


FINDING = "the port is read without validation"


def coder(prompt: str) -> Changeset:
    """Told of the review's finding, it changes the package's docstring: a new tree, and a
    service that answers exactly as before."""
    told = FINDING in prompt
    doc = '"""Health service (port checked)."""\n' if told else '"""Health service."""\n'
    return Changeset(
        files=[FileChange(path="src/svc/__init__.py", content=doc),
               FileChange(path="src/svc/__main__.py", content=SERVER.format(extra=""))],
        rationale="serve health",
    )  # fmt: skip


def reviewer() -> FunctionModel:
    """Rejects the first changeset with one finding, approves every later one."""
    verdicts = iter(["reject"])

    def review(_: str) -> SecurityReview:
        if next(verdicts, "approve") == "reject":
            found = SecurityFinding(cwe="CWE-20", severity="medium", file="src/svc/__main__.py",
                                    line=30, message=FINDING)  # fmt: skip
            return SecurityReview(verdict="reject", findings=[found], summary=FINDING)
        return SecurityReview(verdict="approve", summary="fine")

    return scripted(review)


async def test_the_second_iteration_reuses_every_verdict_and_the_run_says_what_cost_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "health.yaml").write_text(SCENARIO)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    # two answers only: a third judge call would end the scripted model and fail the run
    judge = Judge(scripted_judge(iter([100.0, 90.0])), samples=1)
    validator = ScenarioValidator(
        loaded.scenarios, judge=judge, threshold=95, start_timeout=20, backend="local"
    )
    models = RoleModels(
        architect=scripted(lambda _: DESIGN), tester=scripted(lambda _: SUITE),
        coder=scripted(coder), reviewer=reviewer(),
        labels={},
    )  # fmt: skip
    runs = tmp_path / "runs"
    run_dir = runs / "svc-1"
    factory = Factory(
        run_dir, spec=Spec(name="svc", body="# svc\n\nServes health.\n"),
        settings=Settings(factory=FactoryConfig(max_iterations=3)), models=models,
        gates=[RuffGate()], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    assert (outcome.outcome, outcome.iterations, outcome.best_iteration) == ("converged", 2, 2)
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    results = [e.payload["result"] for e in events if e.kind == k.SCENARIO_RESULT]
    assert [(r["judge_calls"], r["judge_reused"]) for r in results] == [(2, 0), (0, 2)]
    assert (run_dir / "cache" / "judge-verdicts.json").is_file()

    why = run_shortfall(run_dir)
    assert why is not None
    assert why.startswith("iteration 2 scored 98.0: scenarios -2.0 (satisfaction 95.0): health ")
    assert "step 2 (" in why and "'Ask again': judged 90: scripted shortfall at 90.0" in why
    summary = summarize(events, run_id="svc-1")
    assert summary.shortfall == why and (summary.judge_calls, summary.judge_reused) == (2, 2)
    assert list_runs(runs)[0]["why"] == why

    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]  # piped: tab-separated, values whole
    assert header.split("\t")[-1] == "why" and row.split("\t")[-1] == why


def _append(ledger: Ledger, payload: ev.EventPayload, *, step: str) -> None:
    ledger.append(payload.kind, ev.dump(payload), step=step)


def _gate(name: str, status: GateStatus, *, required: bool) -> GateResult:
    return GateResult(
        gate=name, tool=name, tool_version="1", status=status, required=required, duration_s=0.1
    )


def _scores(**values: Any) -> IterationScore:
    return IterationScore(review_approved=True, converged=False, **values)


def test_gates_and_blocking_findings_are_named_with_the_points_they_cost(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "run") as ledger:
        assert shortfall(ledger.events()) is None  # nothing scored yet
        report = GateReport(root="ws", passed=False, summary="3 gates", duration_s=1.0, results=[
            _gate("ruff", GateStatus.PASSED, required=True),
            _gate("complexity", GateStatus.FAILED, required=True),
            _gate("depaudit", GateStatus.FAILED, required=False),
        ])  # fmt: skip
        _append(ledger, ev.GatesRan(iteration=1, report=report), step="iter-1/gates")
        _append(ledger, ev.SecurityReviewed(iteration=1, verdict="approve"), step="r")
        scores = _scores(score=80.0, gates_passed=2, gates_required=3, blocking_findings=1,
                         satisfaction=None)  # fmt: skip
        _append(ledger, ev.LoopDecided(iteration=1, decision="continue", scores=scores,
                                       best_iteration=1), step="iter-1/decision")  # fmt: skip
        why = shortfall(ledger.events())
        assert (
            why
            == "iteration 1 scored 80.0: gates -16.7: complexity failed; blocking findings -5.0: 1"
        )
        full = scores.model_copy(update={"score": 100.0})
        _append(ledger, ev.LoopDecided(iteration=2, decision="continue", scores=full,
                                       best_iteration=2), step="iter-2/decision")  # fmt: skip
        assert shortfall(ledger.events()) == ""  # the best iteration lost nothing


def test_the_last_line_of_a_run_says_what_was_missing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with Ledger.open(run_dir) as ledger:
        scores = _scores(score=99.9, gates_passed=2, gates_required=2, blocking_findings=0,
                         satisfaction=99.75)  # fmt: skip
        result = ValidationResult(
            satisfaction=99.75,
            weakest="crud step 3 (crud.yaml:30) 'Read': judged 97: no category_id",
        )
        _append(ledger, ev.ScenariosRan(iteration=1, score=99.75, result=result),
                step="iter-1/scenarios")  # fmt: skip
        _append(ledger, ev.LoopDecided(iteration=1, decision="continue", scores=scores,
                                       best_iteration=1), step="iter-1/decision")  # fmt: skip
    buffer = io.StringIO()
    print_shortfall(Console(file=buffer, width=40, soft_wrap=True), run_dir)  # narrow: no wrap
    assert buffer.getvalue().splitlines() == [
        "below 100: iteration 1 scored 99.9: scenarios -0.1 (satisfaction 99.8): crud step 3 "
        "(crud.yaml:30) 'Read': judged 97: no category_id"
    ]
    with Ledger.open(run_dir) as ledger:
        full = scores.model_copy(update={"score": 100.0, "satisfaction": 100.0})
        _append(ledger, ev.LoopDecided(iteration=2, decision="converged", scores=full,
                                       best_iteration=2), step="iter-2/decision")  # fmt: skip
    print_shortfall(Console(file=buffer, width=40, soft_wrap=True), run_dir)
    assert buffer.getvalue().splitlines()[-1] == "score 100: nothing was missing"
    unscored = tmp_path / "unscored"
    Ledger.open(unscored).close()
    print_shortfall(Console(file=buffer, width=40, soft_wrap=True), unscored)
    assert len(buffer.getvalue().splitlines()) == 2  # a run stopped before scoring: no line

"""`assay run`'s untrusted parts under a real bwrap sandbox: the holdout service the loop starts,
and the generated project's tests (the pytest gate built with ``untrusted=True``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.commands._compose import check_sandbox, select_gates
from assay.commands._holdout import ScenarioValidator
from assay.config import FactoryConfig, GatePolicy, SandboxConfig, Settings
from assay.factory.loop import Factory, RoleModels
from assay.gates.base import Gate
from assay.gates.pytest_gate import PytestGate
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.messages import Changeset, Design, FileChange, SecurityReview, Spec, TestFile, TestSuite
from assay.plugins import make_plugin_manager
from assay.sandbox import SandboxUnavailable
from assay.sandbox.bwrap import bwrap_problem
from assay.scenarios.loader import load_dir
from assay.testing import scripted
from tests.conftest import require_or_skip

# The service reports where it runs and whether a host secret reached it; the scenario checks
# both, so a pass proves the service ran in the sandbox's /workspace without the key.
SCENARIO = """\
id: inside
description: The service runs in the sandbox
steps:
  - description: Ask where it runs
    request: {method: GET, path: /where}
    assert:
      status: 200
      json:
        - {path: $.cwd, equals: "/workspace"}
        - {path: $.key, equals: null}
"""

SERVER = '''"""Says where it runs."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    """Answers every GET."""

    def do_GET(self) -> None:  # noqa: N802
        """Reply with the working folder and the key, if any."""
        body = json.dumps({"cwd": os.getcwd(), "key": os.environ.get("ANTHROPIC_API_KEY")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


def main() -> None:
    """Serve on $PORT."""
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
'''

TEST = """import os

import svc.__main__ as app


def test_runs_inside_the_sandbox() -> None:
    assert app.Handler.do_GET.__doc__
    assert os.getcwd() == "/workspace"
    assert "ANTHROPIC_API_KEY" not in os.environ
"""

DESIGN = Design(summary="Where service.", package="svc", start_command="python -m svc",
                file_plan=["src/svc/__init__.py", "src/svc/__main__.py"])  # fmt: skip
SUITE = TestSuite(files=[TestFile(path="tests/test_svc.py", content=TEST)])
CHANGES = Changeset(
    files=[FileChange(path="src/svc/__init__.py", content='"""Where service."""\n'),
           FileChange(path="src/svc/__main__.py", content=SERVER)],
    rationale="serve where",
)  # fmt: skip


@pytest.fixture
def bwrap() -> None:
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")


async def test_loop_serves_and_tests_generated_code_under_bwrap(
    bwrap: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "inside.yaml").write_text(SCENARIO)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    settings = Settings(
        factory=FactoryConfig(max_iterations=1),
        sandbox=SandboxConfig(backend="bwrap", timeout_s=120, memory_mb=1024),
        gates={"pytest": GatePolicy.model_validate({"coverage": 40, "source": ["src"]})},
    )
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=30,
        sandbox=settings.sandbox, regulated=True,  # bwrap is allowed under a regulated policy
    )  # fmt: skip
    pm = make_plugin_manager(settings=settings)
    gates = [g for g in select_gates([], settings, pm) if g.name == "pytest"]
    assert isinstance(gates[0], PytestGate) and gates[0].untrusted
    models = RoleModels(
        architect=scripted(lambda _: DESIGN), tester=scripted(lambda _: SUITE),
        coder=scripted(lambda _: CHANGES),
        reviewer=scripted(lambda _: SecurityReview(verdict="approve")), labels={},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=Spec(name="svc", body="# svc\n\nSays where it runs.\n"),
        settings=settings, models=models, gates=[RuffGate(), *gates], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    with Ledger.open(run_dir, create=False) as ledger:
        results = [e.payload for e in ledger.events(kind="scenario.result")]
        gate_events = [e.payload for e in ledger.events(kind="gate.result")]
    assert [r["score"] for r in results] == [100.0], results
    assert outcome.outcome == "converged", (outcome, gate_events)


def test_run_stops_early_without_a_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(sandbox=SandboxConfig(docker_host=f"unix://{tmp_path}/none.sock"))
    monkeypatch.setenv("PATH", str(tmp_path))
    bwrap_problem.cache_clear()
    try:
        gates: list[Gate] = [PytestGate(settings=settings, untrusted=True)]
        with pytest.raises(SandboxUnavailable, match="no sandbox backend is available"):
            check_sandbox(settings, gates, None)
        check_sandbox(settings, [RuffGate()], None)  # nothing untrusted runs: no sandbox needed
    finally:
        bwrap_problem.cache_clear()

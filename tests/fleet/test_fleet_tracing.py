"""A fleet worker honours the OTLP endpoint of its own environment: each run it executes is a
trace, its role calls (DBOS steps) beneath the run span, linked to the run's ledger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay import tracing
from assay.factory import events as ev
from assay.ledger import Ledger
from assay.ledger import kinds as k
from tests.otlp_collector import collector

pytest.importorskip("dbos")

FACTORY_TESTS = Path(__file__).parent.parent / "factory"
CONFIG = (
    '[factory]\ngates = ["ruff"]\nmax_iterations = 4\n\n'
    '[fleet]\ndatabase = "sqlite:///{db}"\nsystem_schema = "dbos"\n'
)


def _env(tmp: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.pop(tracing.ENDPOINT_ENV, None)
    env.pop(tracing.TRACES_ENDPOINT_ENV, None)
    env.update(
        ASSAY_TESTING_MODELS="scripted_app:models",
        # this checkout's assay, then the scripted team
        PYTHONPATH=os.pathsep.join([*sys.path, str(FACTORY_TESTS)]),
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_STATE_HOME=str(home / "state"),
        HOME=str(home),
    )
    return env


@pytest.mark.slow
def test_a_worker_traces_each_run_to_its_environments_collector(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / ".git").mkdir()  # config lookup stops here
    config = project / "assay.toml"
    config.write_text(CONFIG.format(db=tmp_path / "fleet.sqlite"))
    (project / "spec.md").write_text("---\nname: greeter\n---\n# Greeter\n\nGreets people.\n")
    runs = tmp_path / "runs"
    cli = [sys.executable, "-m", "assay.cli"]
    submitted = subprocess.run(
        [*cli, "fleet", "submit", "spec.md", "--runs-dir", str(runs), "--config", str(config)],
        cwd=project, env=_env(tmp_path, tmp_path / "home-cli"), capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    [run_id] = submitted.stdout.split()  # the description stored in the queue names no endpoint

    with collector() as otlp:
        worker_home = tmp_path / "w0"
        worker_home.mkdir()
        env = _env(tmp_path, worker_home) | {
            tracing.ENDPOINT_ENV: otlp.url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export each batch soon after its spans end
        }
        with (worker_home / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [*cli, "worker", "--id", "w0", "--config", str(config)], cwd=worker_home,
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and worker.poll() is None:
                    if any(s.name == "assay run" for s in otlp.spans()):
                        break
                    time.sleep(0.5)
            finally:
                worker.send_signal(signal.SIGTERM)
                worker.wait(timeout=60)
        spans = otlp.spans()
    log_text = (worker_home / "worker.log").read_text(errors="replace")
    [run] = [s for s in spans if s.name == "assay run"]
    assert run.attributes["assay.run.id"] == run_id, log_text
    with Ledger.open(runs / run_id, create=False) as ledger:
        [traced] = [
            ev.RunTraced.model_validate(e.payload) for e in ledger.events(kind=k.RUN_TRACED)
        ]
        [finished] = [e.payload for e in ledger.events(kind=k.RUN_FINISHED)]
    assert run.attributes["assay.outcome"] == finished["outcome"]
    assert (run.trace_id, run.span_id) == (traced.trace_id, traced.span_id)
    mine = [s for s in spans if s.trace_id == run.trace_id]
    roles = {s.name for s in mine if s.parent_id == run.span_id}
    assert {"role architect", "role tester", "iteration"} <= roles  # each step ran as a DBOS step
    assert any(s.scope == "pydantic-ai" for s in mine)

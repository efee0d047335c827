"""Issue 13: a design that names FastAPI converges. Its dependencies are locked with hashes,
fetched into the wheelhouse, installed offline and mounted read-only into the sandbox (bwrap, and
docker as root in CI), where the service runs on uvicorn and its tests use FastAPI's TestClient,
with no network in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.commands._compose import select_gates
from assay.commands._holdout import ScenarioValidator
from assay.config import FactoryConfig, GatePolicy, SandboxConfig, Settings
from assay.deps.lock import LOCK_HEADER, parse_lock
from assay.evidence.bundle import report_plugins, write_bundle
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger, Signer
from assay.messages import (
    Changeset,
    Design,
    FileChange,
    PinnedDependency,
    SecurityReview,
    Spec,
    TestFile,
    TestSuite,
)
from assay.plugins import make_plugin_manager
from assay.sandbox.bwrap import bwrap_problem
from assay.sandbox.docker import DEFAULT_IMAGE, docker_problem
from assay.scenarios.loader import load_dir
from assay.testing import scripted
from tests.conftest import require_or_skip

SCENARIO = """\
id: hello
description: FastAPI greets by name, and validates the name
steps:
  - description: Greet Ada
    request: {method: GET, path: /hello/Ada}
    assert:
      status: 200
      json:
        - {path: $.message, equals: "Hello, Ada"}
        - {path: $.framework, equals: "fastapi"}
  - description: A name that is too long is refused by FastAPI's validation
    request: {method: GET, path: /hello/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
    assert:
      status: 422
"""

APP = '''"""The greeting service."""

from typing import Annotated

import fastapi
from fastapi import FastAPI, Path

app = FastAPI(title="hello")


@app.get("/hello/{name}")
def hello(name: Annotated[str, Path(max_length=40)]) -> dict[str, str]:
    """Greet `name`."""
    return {"message": f"Hello, {name}", "framework": fastapi.__name__}
'''

MAIN = '''"""Serve the app with uvicorn on 127.0.0.1:$PORT."""

import os

import uvicorn

from hello_api.app import app


def main() -> None:
    """Run the server."""
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")


if __name__ == "__main__":
    main()
'''

TEST = """from fastapi.testclient import TestClient

from hello_api.app import app

client = TestClient(app)


def test_hello_greets() -> None:
    answer = client.get("/hello/Ada")
    assert answer.status_code == 200
    assert answer.json()["message"] == "Hello, Ada"


def test_long_names_are_refused() -> None:
    assert client.get("/hello/" + "a" * 41).status_code == 422
"""

DESIGN = Design(
    summary="A FastAPI greeting service on uvicorn.",
    package="hello_api",
    start_command="python -m hello_api",
    file_plan=["src/hello_api/__init__.py", "src/hello_api/app.py", "src/hello_api/__main__.py"],
    dependencies=[
        PinnedDependency(name="fastapi", spec=">=0.110"),
        PinnedDependency(name="uvicorn", spec=">=0.30"),
        PinnedDependency(name="httpx", spec=">=0.27"),
    ],
)
SUITE = TestSuite(files=[TestFile(path="tests/test_app.py", content=TEST)])
CHANGES = Changeset(
    files=[
        FileChange(path="src/hello_api/__init__.py", content='"""Hello API."""\n'),
        FileChange(path="src/hello_api/app.py", content=APP),
        FileChange(path="src/hello_api/__main__.py", content=MAIN),
    ],
    rationale="FastAPI app, served by uvicorn",
)


def _backend(name: str) -> None:
    problem = bwrap_problem() if name == "bwrap" else docker_problem(DEFAULT_IMAGE)
    require_or_skip(problem is None, f"{name}: {problem}")


@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_a_fastapi_design_converges_with_locked_offline_dependencies(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend(backend)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a wheelhouse of its own
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "hello.yaml").write_text(SCENARIO)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    settings = Settings(
        regulated=True,  # only the allow-list, transitive components included
        factory=FactoryConfig(max_iterations=1),
        sandbox=SandboxConfig(backend=backend, timeout_s=180, memory_mb=1024),
        gates={"pytest": GatePolicy.model_validate({"coverage": 40, "source": ["src"]})},
    )
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=60,
        sandbox=settings.sandbox, regulated=True,
    )  # fmt: skip
    pm = make_plugin_manager(settings=settings)
    gates = [g for g in select_gates([], settings, pm) if g.name == "pytest"]
    models = RoleModels(
        architect=scripted(lambda _: DESIGN), tester=scripted(lambda _: SUITE),
        coder=scripted(lambda _: CHANGES),
        reviewer=scripted(lambda _: SecurityReview(verdict="approve")), labels={},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=Spec(name="hello-api", body="# Hello\n\nGreets by name with FastAPI.\n"),
        settings=settings, models=models, gates=[RuffGate(), *gates], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    with Ledger.open(run_dir, create=False) as ledger:
        (locked,) = [e.payload for e in ledger.events(kind="dependencies.locked")]
        scores = [e.payload["score"] for e in ledger.events(kind="scenario.result")]
        gate_events = [e.payload for e in ledger.events(kind="gate.result")]
    assert outcome.outcome == "converged", (outcome, scores, gate_events)
    assert scores == [100.0]
    names = {c["name"]: c for c in locked["components"]}
    assert {"fastapi", "uvicorn", "httpx", "starlette", "pydantic", "pydantic-core"} <= set(names)
    assert names["fastapi"]["direct"] and not names["starlette"]["direct"]
    assert all(c["hashes"] and c["licence"] for c in locked["components"])
    # The generated project carries the lock, and its CI installs exactly it.
    lock = (run_dir / "workspace" / "requirements.txt").read_text()
    assert lock.startswith(LOCK_HEADER)
    assert {p.name for p in parse_lock(lock.removeprefix(LOCK_HEADER)).packages} == set(names)
    ci = (run_dir / "workspace" / ".github" / "workflows" / "ci.yml").read_text()
    assert "pip install --require-hashes -r requirements.txt" in ci
    # The evidence tells the truth about components: every one, its version, licence and hashes.
    bundle = write_bundle(
        run_dir, tmp_path / "bundle", Signer.generate(), plugins=report_plugins(run_dir)
    )
    deps = bundle.summary.dependencies
    assert deps is not None and {c.name for c in deps.components} == set(names)
    fastapi = next(c for c in deps.components if c.name == "fastapi")
    assert fastapi.direct and fastapi.licence == "MIT" and fastapi.hashes >= 1
    html = (bundle.path / "report.html").read_text()
    assert "<h2>Dependencies</h2>" in html and "pinned by hash" in html

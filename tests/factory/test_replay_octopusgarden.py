"""OctopusGarden's own specs, unchanged, replayed from conversations an LLM played for real.

Each fixture under tests/replays/og-* was recorded through ../shared/tools/llm-bridge.py: one LLM
played the model behind every role, a second one the judge, neither saw the scenarios (see the
fixture's README). The replay runs the real `assay run` in a subprocess, over real HTTP, with the
real gates and the real sandbox, once under docker as root (as recorded) and once under bwrap,
and must reach the recorded outcome asking exactly what the recording holds.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from assay.sandbox.bwrap import bwrap_problem
from assay.sandbox.docker import docker_problem
from assay.testing.replay import ReplayRun, replay_run
from tests.conftest import COMPAT, REPO, line_with, require_or_skip

REPLAYS = REPO / "tests" / "replays"

#: fixture -> (OctopusGarden spec folder, the recorded run's last lines that must come back)
RECORDED: dict[str, tuple[str, tuple[str, ...]]] = {
    "og-hello-api": (
        "hello-api",
        ("iter 1 scenarios: satisfaction 100.0/100, 5 of 5 passed",
         "converged after 1 iteration(s)", "score 100.0"),
    ),
    "og-kv-store": (
        "kv-store",
        ("iter 1 review: reject", "iter 2 review: approve",
         "iter 2 scenarios: satisfaction 100.0/100, 7 of 7 passed",
         "converged after 2 iteration(s)", "score 100.0"),
    ),
    "og-todo-app": (
        "todo-app",
        ("iter 1 scenarios: satisfaction 100.0/100, 13 of 13 passed",
         "converged after 1 iteration(s)", "score 100.0"),
    ),
}  # fmt: skip


def _replay(tmp_path: Path, fixture: str, backend: str) -> ReplayRun:
    if backend == "docker":
        require_or_skip(docker_problem() is None, f"docker: {docker_problem()}")
    else:
        require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    spec_dir = COMPAT / RECORDED[fixture][0]
    config = tmp_path / "assay.toml"
    config.write_text(f'[sandbox]\nbackend = "{backend}"\n')
    env = {k: v for k, v in os.environ.items() if k == "DOCKER_HOST"}
    return replay_run(
        REPLAYS / fixture / "conversation.jsonl",
        spec_dir / "spec.md",
        scenarios=spec_dir / "scenarios",
        runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--max-iterations", "4"],
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["docker", "bwrap"])
@pytest.mark.parametrize("fixture", sorted(RECORDED))
def test_a_played_conversation_replays_to_its_recorded_outcome(
    tmp_path: Path, fixture: str, backend: str
) -> None:
    run = _replay(tmp_path, fixture, backend)
    output = "\n".join(run.lines)
    run.check()  # every request was one the recording holds, and every answer was used
    assert run.exit_code == 0, output
    for expected in RECORDED[fixture][1]:
        line_with(output, expected)
    assert run.run_dir is not None
    workspace = run.run_dir / "workspace"
    # host git works in the workspace, whoever ran the code, and the tree is what was committed
    status = subprocess.run(
        ["git", "-C", str(workspace), "status", "--porcelain"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert status.stdout == "", status.stdout


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_played_design_that_cannot_meet_its_spec_replays_to_blocked(tmp_path: Path) -> None:
    """A FastAPI spec where nothing installs FastAPI: the played architect lists the requirement
    as unmet, and the run stops before anything is built (see the fixture's README)."""
    require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    fixture = REPLAYS / "blocked-fastapi"
    config = tmp_path / "assay.toml"
    config.write_text('[sandbox]\nbackend = "bwrap"\n')
    run = replay_run(
        fixture / "conversation.jsonl",
        fixture / "input" / "spec.md",
        scenarios=fixture / "input" / "scenarios",
        runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--max-iterations", "4"],
        cwd=tmp_path,
    )
    output = "\n".join(run.lines)
    run.check()
    assert run.exit_code == 1, output
    assert run.served == {"gen": 1}
    line_with(output, "iter 0 decision: blocked", "cannot meet the spec here", "FastAPI")
    line_with(output, "blocked after 0 iteration(s)")


@pytest.mark.sandbox
@pytest.mark.slow
@pytest.mark.parametrize("backend", ["docker", "bwrap"])
def test_the_played_fastapi_design_now_converges_with_locked_dependencies(
    tmp_path: Path, backend: str
) -> None:
    """The spec `blocked-fastapi` could not meet (nothing installed FastAPI), played again once
    dependencies are locked, installed offline and mounted (issue 13; the fixture's README)."""
    if backend == "docker":
        require_or_skip(docker_problem() is None, f"docker: {docker_problem()}")
    else:
        require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    fixture = REPLAYS / "fastapi-greeter"
    config = tmp_path / "assay.toml"
    config.write_text(f'[sandbox]\nbackend = "{backend}"\n')
    run = replay_run(
        fixture / "conversation.jsonl",
        fixture / "input" / "spec.md",
        scenarios=fixture / "input" / "scenarios",
        runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--max-iterations", "4"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k == "DOCKER_HOST"},
    )
    output = "\n".join(run.lines)
    run.check()
    assert run.exit_code == 0, output
    assert run.served == {"gen": 4}
    line_with(output, "iter 0 dependencies: locked", "(4 direct) with hashes")
    line_with(output, "iter 1 scenarios: satisfaction 100.0/100, 1 of 1 passed")
    line_with(output, "converged after 1 iteration(s)", "score 100.0")
    assert run.run_dir is not None
    lock = (run.run_dir / "workspace" / "requirements.txt").read_text()
    assert "fastapi==" in lock and "--hash=sha256:" in lock

"""Fixtures for the sandbox tests, and the attack suite's per-backend tally at session end."""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from assay.sandbox import Limits, RunResult, Sandbox, Service
from assay.sandbox.bwrap import BwrapSandbox, bwrap_problem
from assay.sandbox.docker import DEFAULT_IMAGE, DockerSandbox, docker_problem
from assay.sandbox.session import Session, use
from tests.conftest import require_or_skip

HERE = Path(__file__).parent
ATTACKS = HERE / "attacks"
PROGRAMS = HERE / "programs"
BACKENDS = ("bwrap", "docker", "docker-session")
"""``docker-session``: the docker backend inside a sandbox session (one container, exec'd into)."""
ATTACK_LIMITS = Limits(timeout_s=15, memory_mb=128, pids=48, cpus=0.5, output_bytes=64_000)

# backend -> attack -> contained?
TALLY: dict[str, dict[str, bool]] = defaultdict(dict)


class SessionSandbox:
    """A docker sandbox whose every call runs in one sandbox session, as in a loop iteration;
    `close` ends the session (removing its container), then closes the sandbox."""

    name = "docker-session"

    def __init__(self, box: DockerSandbox) -> None:
        self.box = box
        self.session = Session()
        self.workspace = box.workspace
        self.limits = box.limits

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        with use(self.session):
            return await self.box.run(argv, cwd=cwd, env=env, stdin=stdin, limits=limits)

    async def serve(
        self,
        argv: Sequence[str],
        *,
        port: int = 8080,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> Service:
        with use(self.session):
            return await self.box.serve(argv, port=port, cwd=cwd, env=env, limits=limits)

    def copy_out(self, paths: Sequence[str], dest: Path) -> list[Path]:
        return self.box.copy_out(paths, dest)

    def close(self) -> None:
        self.session.close()
        self.box.close()


def make_sandbox(backend: str, workspace: Path, limits: Limits = ATTACK_LIMITS) -> Sandbox:
    """A real sandbox of `backend`, or skip (fail in CI) when it cannot run here."""
    if backend == "bwrap":
        problem = bwrap_problem()
        require_or_skip(problem is None, f"bwrap: {problem}")
        return BwrapSandbox(workspace, limits=limits, env_allow=["ANTHROPIC_API_KEY", "LANG"])
    problem = docker_problem(DEFAULT_IMAGE)
    require_or_skip(problem is None, f"docker: {problem}")
    box = DockerSandbox(workspace, limits=limits, env_allow=["ANTHROPIC_API_KEY", "LANG"])
    return SessionSandbox(box) if backend == "docker-session" else box


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace holding the attack programs and the reference service."""
    ws = tmp_path / "ws"
    ws.mkdir()
    for src in [*ATTACKS.glob("*.py"), *PROGRAMS.glob("*.py")]:
        shutil.copy(src, ws / src.name)
    return ws


@pytest.fixture(params=BACKENDS)
def sandbox(request: pytest.FixtureRequest, workspace: Path) -> Iterator[Sandbox]:
    """Each isolating backend in turn, on `workspace`."""
    box = make_sandbox(request.param, workspace)
    yield box
    box.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print attacks tried and contained per backend."""
    if not TALLY:
        return
    terminalreporter.section("sandbox attack suite")
    for backend, results in sorted(TALLY.items()):
        contained = sum(results.values())
        line = f"{backend}: {len(results)} attacks tried, {contained} contained"
        escaped = sorted(name for name, ok in results.items() if not ok)
        if escaped:
            line += f"; NOT contained: {', '.join(escaped)}"
        terminalreporter.write_line(line)

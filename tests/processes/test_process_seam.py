"""The one process seam (issue 14, point 2): tools, exec steps and sandboxed commands run through
`assay.processes` with one result type and one environment builder.

Real processes throughout: every command carries a token in its environment, which its children
inherit, and /proc is scanned for the token afterwards (`tests.survivors.marked`).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

from assay.gates._tool import run_tool
from assay.processes import (
    BASE_ENV,
    Command,
    KilledReason,
    Process,
    RunResult,
    build_env,
    run,
    run_blocking,
)
from assay.sandbox.local import LocalSandbox
from assay.scenarios.executor import SandboxExecutor, SubprocessExecutor
from tests.survivors import marked

# The leader starts a grandchild in the background and then sleeps itself.
TWO_SLEEPS = "sleep 100 & sleep 100"
# As above, but SIGTERM is ignored by the leader and (inherited) by both sleeps: only the
# SIGKILL after the grace period ends them.
DEAF_SLEEPS = "trap '' TERM; sleep 100 & sleep 100"


def _token() -> str:
    return f"seam-{uuid.uuid4().hex}"


async def test_a_timed_out_tool_leaves_no_process_of_its_group(tmp_path: Path) -> None:
    token = _token()
    result = await run_tool(
        ["sh", "-c", TWO_SLEEPS], cwd=tmp_path, env={"SEAM_MARK": token}, timeout=1
    )
    assert isinstance(result, RunResult)
    assert result.killed is KilledReason.TIMEOUT and result.timed_out and not result.ok
    assert result.duration_s < 10
    assert marked(token) == {}, "the grandchild `sleep` outlived the tool's timeout"
    assert "sh was killed (timeout limit)" in result.describe_failure()


async def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    token = _token()
    env = build_env(explicit={"SEAM_MARK": token})
    result = await run(Command(["sh", "-c", DEAF_SLEEPS], cwd=tmp_path, env=env, timeout=0.5))
    assert result.timed_out
    assert marked(token) == {}


async def test_a_cancelled_run_ends_its_group_before_the_cancellation_goes_on(
    tmp_path: Path,
) -> None:
    token = _token()
    started = tmp_path / "started"
    argv = ["sh", "-c", f"sleep 100 & touch {started}; sleep 100"]
    env = build_env(explicit={"SEAM_MARK": token})
    task = asyncio.create_task(run(Command(argv, cwd=tmp_path, env=env, timeout=300)))
    for _ in range(400):
        if started.exists():
            break
        await asyncio.sleep(0.025)
    assert len(marked(token)) >= 2  # the leader and its grandchild run
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert marked(token) == {}


async def test_a_leader_that_exits_takes_its_background_children_along(tmp_path: Path) -> None:
    token = _token()
    env = build_env(explicit={"SEAM_MARK": token})
    result = await run(Command(["sh", "-c", "sleep 100 & echo done"], tmp_path, env, timeout=60))
    assert result.ok and result.stdout == "done\n" and result.killed is None
    assert marked(token) == {}


async def test_output_over_the_cap_keeps_its_head_and_its_tail(tmp_path: Path) -> None:
    program = "import sys; print('x' * 3_000_000); print('the real reason', file=sys.stdout)"
    argv = ["python3", "-c", program]
    result = await run(Command(argv, tmp_path, build_env(), timeout=60, output_bytes=4096))
    assert result.ok and result.stdout_truncated and not result.stderr_truncated
    assert result.stdout.startswith("x" * 2048)
    assert result.stdout.rstrip().endswith("x" * 100 + "\nthe real reason")
    printed = len("x" * 3_000_000 + "\nthe real reason\n")
    assert f"[... {printed - 4096} bytes of output not kept ...]" in result.stdout
    assert len(result.stdout) < 4096 + 100


async def test_an_exec_step_keeps_the_tail_of_a_long_output(tmp_path: Path) -> None:
    executor = SubprocessExecutor(tmp_path, output_bytes=2048)
    program = "for i in range(100_000): print(i)"
    result = await executor.run(["python3", "-c", program], env={}, stdin=None, timeout=60)
    assert result.ok and result.stdout_truncated
    assert result.stdout.splitlines()[-1] == "99999" and result.stdout.startswith("0\n1\n")


async def test_stdin_reaches_the_program(tmp_path: Path) -> None:
    result = await run(Command(["cat"], tmp_path, build_env(), timeout=60, stdin=b"hello"))
    assert result.ok and result.stdout == "hello"


async def test_a_missing_program_exits_127_through_every_caller(tmp_path: Path) -> None:
    argv = ["no-such-program-anywhere"]
    direct = await run(Command(argv, cwd=tmp_path, env=build_env(), timeout=10))
    tool = await run_tool(argv, cwd=tmp_path, timeout=10)
    step = await SubprocessExecutor(tmp_path).run(argv, env={}, stdin=None, timeout=10)
    local = await SandboxExecutor(LocalSandbox(tmp_path)).run(argv, env={}, stdin=None, timeout=10)
    for result in (direct, tool, step, local):
        assert result.exit_code == 127 and result.killed is None
        assert result.stderr == "no-such-program-anywhere: command not found"
    assert local.backend == "local" and direct.backend == "host"
    blocking = run_blocking(Command(argv, cwd=None, env=build_env(), timeout=10))
    assert blocking.exit_code == 127


def _env_of(result: RunResult) -> dict[str, str]:
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


async def test_exec_steps_and_sandboxed_commands_get_the_same_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-generated-code")
    monkeypatch.setenv("SEAM_HOST_ONLY", "1")
    executor = SubprocessExecutor(tmp_path)  # its private HOME lives as long as it does
    step = await executor.run(["env"], env={"A": "1"}, stdin=None, timeout=10)
    boxed = await LocalSandbox(tmp_path).run(["env"], env={"A": "1"})
    tool = await run_tool(["env"], cwd=tmp_path, env={"A": "1"})
    step_env, box_env, tool_env = _env_of(step), _env_of(boxed), _env_of(tool)
    # one builder: the same names, differing only in where HOME is
    assert set(step_env) == set(box_env) == {*BASE_ENV, "A"}
    assert {k: v for k, v in step_env.items() if k != "HOME"} == {
        k: v for k, v in box_env.items() if k != "HOME"
    }
    assert step_env["HOME"] != BASE_ENV["HOME"] and Path(step_env["HOME"]).is_dir()
    # assay's own tools are trusted: the host environment, a private TMPDIR, then their values
    assert tool_env["SEAM_HOST_ONLY"] == "1" and tool_env["A"] == "1"
    assert tool_env["TMPDIR"] != os.environ.get("TMPDIR") and not Path(tool_env["TMPDIR"]).exists()
    assert "OPENAI_API_KEY" not in step_env and "OPENAI_API_KEY" not in box_env


def test_a_service_started_under_one_loop_is_stopped_under_another(tmp_path: Path) -> None:
    token = _token()

    async def start() -> Process:
        env = build_env(explicit={"SEAM_MARK": token})
        argv = ["sh", "-c", f"echo up; {TWO_SLEEPS}"]
        return Process(Command(argv, cwd=tmp_path, env=env, timeout=300, backend="local"))

    process = asyncio.run(start())
    assert process.alive()
    result = asyncio.run(process.stop())  # another event loop: the first one is closed
    assert result.killed is KilledReason.STOPPED and result.stdout == "up\n"
    assert not process.alive() and marked(token) == {}


async def test_a_service_past_its_deadline_is_ended_and_says_so(tmp_path: Path) -> None:
    token = _token()
    exited: list[str] = []

    def on_exit() -> KilledReason | None:
        exited.append("cleaned")
        return KilledReason.MEMORY  # a timeout still wins over what the backend found

    env = build_env(explicit={"SEAM_MARK": token})
    argv = ["sh", "-c", TWO_SLEEPS]
    process = Process(Command(argv, cwd=tmp_path, env=env, timeout=0.5, on_exit=on_exit))
    result = await process.wait()
    assert result.killed is KilledReason.TIMEOUT and exited == ["cleaned"]
    assert marked(token) == {}
    assert await process.stop() is result  # stopping a finished process reports it again

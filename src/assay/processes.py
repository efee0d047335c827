"""Ending a process together with everything it started.

assay starts every tool and service as the leader of a new session (``start_new_session``), so
the process and all its descendants (pytest's subprocesses, semgrep's semgrep-core, a test's
``sleep``) share one process group. Ending a command ends that group: SIGTERM to the group, a
short grace for the leader to exit, then SIGKILL to the group for whatever is left (a grandchild
that ignores SIGTERM, or outlived its parent). Killing only the direct child, as
``Process.kill()`` does, leaves the grandchildren running after assay has gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GRACE_S",
    "Exited",
    "end_group",
    "end_group_blocking",
    "group_alive",
    "run_in_group",
    "signal_group",
]

GRACE_S = 2.0
"""Seconds a group has between SIGTERM and SIGKILL."""

_POLL_S = 0.05


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still exists (a zombie leader counts)."""
    return signal_group(pgid, 0)


async def end_group(proc: asyncio.subprocess.Process, grace: float = GRACE_S) -> None:
    """End `proc` (a session leader) and its whole group, and reap it.

    Safe to call when it has already exited: the group's leftovers are still swept.
    """
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    # The leader is reaped now (or ignores SIGTERM); give the rest of the group the same grace.
    while time.monotonic() < deadline and proc.returncode is not None and group_alive(pgid):
        await asyncio.sleep(_POLL_S)
    signal_group(pgid, signal.SIGKILL)
    await proc.wait()


def end_group_blocking(proc: subprocess.Popen[bytes], grace: float = GRACE_S) -> None:
    """`end_group` for a `subprocess.Popen` (for callers outside an event loop)."""
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    while time.monotonic() < deadline and proc.returncode is not None and group_alive(pgid):
        time.sleep(_POLL_S)
    signal_group(pgid, signal.SIGKILL)
    proc.wait()


@dataclass(frozen=True, slots=True)
class Exited:
    """How a `run_in_group` process ended."""

    returncode: int
    timed_out: bool


async def _pump(stream: asyncio.StreamReader | None, sink: Callable[[bytes], object]) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink(chunk)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    if proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    proc.stdin.close()


async def run_in_group(
    argv: Sequence[str],
    *,
    cwd: Path | None,
    env: Mapping[str, str],
    stdin: bytes | None,
    timeout: float,
    on_stdout: Callable[[bytes], object],
    on_stderr: Callable[[bytes], object],
    on_kill: Callable[[], None] | None = None,
) -> Exited:
    """Run `argv` as the leader of a new session, feeding its output to the two sinks.

    However it ends (exit, `timeout`, cancellation by Ctrl-C, SIGTERM or a caller's own
    timeout) its whole group is ended before this returns or re-raises; `on_kill` is called
    when assay cut it short (a backend's cgroup, say). A missing program raises
    `FileNotFoundError` as `asyncio.create_subprocess_exec` does.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    tasks = [
        asyncio.create_task(_pump(proc.stdout, on_stdout)),
        asyncio.create_task(_pump(proc.stderr, on_stderr)),
    ]
    if stdin is not None:
        tasks.append(asyncio.create_task(_feed(proc, stdin)))
    timed_out = finished = False
    try:
        await asyncio.wait_for(proc.wait(), timeout)
        finished = True
    except TimeoutError:
        timed_out = True
    finally:
        # Exit, timeout or cancellation: nothing the process started may outlive it.
        await end_group(proc)
        if not finished and on_kill is not None:
            on_kill()
        # A grandchild that left the group may hold the pipes open: the output stops here.
        _, pending = await asyncio.wait(tasks, timeout=GRACE_S)
        for task in pending:
            task.cancel()
    code = proc.returncode if proc.returncode is not None else -1
    return Exited(code, timed_out)

"""The one way assay runs a host process: `run` a `Command` to completion, or start it as a
`Process` (a service) and `stop` it later.

Gate tools, exec steps, sandboxed commands (the ``bwrap`` launcher, the ``local`` backend),
services, and assay's own uv, pip and git calls all go through `Process`; they differ only in
the `Command` they pass. A
process is the leader of a new session (`assay.processes.group`), so on exit, at its deadline,
when stopped, and when the caller is cancelled (Ctrl-C, SIGTERM, a gate's own timeout) its whole
group is ended, grandchildren included. Its output is kept in `Capped` buffers (head and tail).
The outcome is a `RunResult`, the same type the docker backend returns.

`Process` is driven by threads (two draining the pipes, one reaping, one for the deadline),
not by an event loop, so a service started under one loop can be stopped under another, and a
blocking caller (`run_blocking`) uses the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assay.processes.group import GRACE_S, end_group
from assay.processes.output import Capped

__all__ = [
    "HOST",
    "OUTPUT_BYTES",
    "TOOL_OUTPUT_BYTES",
    "Command",
    "KilledReason",
    "Process",
    "RunResult",
    "run",
    "run_blocking",
]

HOST = "host"
"""The `RunResult.backend` of a process run on the host without a sandbox."""
OUTPUT_BYTES = 1_000_000
"""Bytes kept of stdout and of stderr each unless the caller says otherwise."""
TOOL_OUTPUT_BYTES = 256 * 2**20
"""Bytes kept of a trusted tool's stdout and stderr: its whole report or lock, in practice."""


class KilledReason(enum.StrEnum):
    """Why assay (or a sandbox's limit) ended a process."""

    TIMEOUT = "timeout"
    MEMORY = "memory"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one process did: the single result type of every way assay runs a command."""

    argv: tuple[str, ...]
    exit_code: int
    """The exit status; -N (or 128+N, backend dependent) when killed by signal N, 127 when the
    program was not found, 126 when it could not be executed."""
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    killed: KilledReason | None
    """Set when assay or a sandbox limit ended it, and why."""
    backend: str
    """``host``, or the sandbox backend that ran it."""

    @property
    def ok(self) -> bool:
        """Exited 0 and was not killed."""
        return self.exit_code == 0 and self.killed is None

    @property
    def timed_out(self) -> bool:
        """Ended at its deadline."""
        return self.killed is KilledReason.TIMEOUT

    def describe_failure(self) -> str:
        """The program's own last words when it fails, trimmed to something readable."""
        text = (self.stderr.strip() or self.stdout.strip() or "(no output)").splitlines()
        tail = "\n".join(text[-15:])
        name = Path(self.argv[0]).name if self.argv else "(nothing)"
        if self.killed is None:
            return f"{name} exited {self.exit_code}: {tail}"
        by = "" if self.backend == HOST else f" by the {self.backend} sandbox"
        return f"{name} was killed{by} ({self.killed} limit): {tail}"


@dataclass(frozen=True, slots=True)
class Command:
    """What to run: the request half of the seam (`RunResult` is the answer).

    `on_kill` is called when assay cut the process short (to kill what a backend keeps outside
    its group, a cgroup); `on_exit` once it is over, whatever happened (to clean up; the reason
    it returns, a sandbox's memory limit, is reported unless the deadline ended it).
    `shown_argv` is the command as the result names it (a sandbox's inner command, not the
    launcher's).
    """

    argv: Sequence[str]
    cwd: Path | None
    env: Mapping[str, str]
    timeout: float
    """Seconds from the start until its whole group is ended (`KilledReason.TIMEOUT`)."""
    stdin: bytes | None = None
    output_bytes: int = OUTPUT_BYTES
    """Bytes kept of stdout and of stderr each (`Capped`: the beginning and the end)."""
    on_kill: Callable[[], None] | None = None
    on_exit: Callable[[], KilledReason | None] | None = None
    shown_argv: Sequence[str] | None = None
    backend: str = HOST

    @property
    def shown(self) -> tuple[str, ...]:
        """The argv a result names."""
        return tuple(self.argv if self.shown_argv is None else self.shown_argv)


def _drain(stream: IO[bytes], sink: Capped) -> threading.Thread:
    def pump() -> None:
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
                sink.feed(chunk)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _feed(stream: IO[bytes], data: bytes) -> threading.Thread:
    def write() -> None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(data)
        with contextlib.suppress(OSError, ValueError):
            stream.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


class Process:
    """A host process started from `command` as the leader of a new session.

    Its output is capped and it has a deadline; `stop` ends it sooner (`KilledReason.STOPPED`
    when it was still running). Once its leader has exited the rest of its group is swept too.
    A program that cannot start raises `OSError` (`FileNotFoundError`, `PermissionError`),
    after the command's `on_exit`.
    """

    def __init__(self, command: Command) -> None:
        self._command = command
        self._started = time.monotonic()
        try:
            self._popen = subprocess.Popen(
                list(command.argv),
                cwd=command.cwd,
                env=dict(command.env),
                stdin=subprocess.PIPE if command.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError:
            if command.on_exit is not None:
                command.on_exit()
            raise
        self._out, self._err = Capped(command.output_bytes), Capped(command.output_bytes)
        popen = self._popen
        assert popen.stdout is not None and popen.stderr is not None
        self._threads = [_drain(popen.stdout, self._out), _drain(popen.stderr, self._err)]
        if command.stdin is not None:
            assert popen.stdin is not None
            self._threads.append(_feed(popen.stdin, command.stdin))
        self._lock = threading.Lock()
        self._killed: KilledReason | None = None
        self._result: RunResult | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._done = threading.Event()
        self._timer = threading.Timer(command.timeout, self._cut, (KilledReason.TIMEOUT, False))
        self._timer.daemon = True
        self._timer.start()
        threading.Thread(target=self._reap, daemon=True).start()

    @property
    def pid(self) -> int:
        """The leader's pid, which is also its process group's id."""
        return self._popen.pid

    def alive(self) -> bool:
        """True while the leader runs."""
        return self._popen.poll() is None

    def _cut(self, reason: KilledReason, in_background: bool = True) -> None:
        """End the group now unless it is already over, recording `reason` (the first wins)."""
        with self._lock:
            if self._killed is not None or self._popen.returncode is not None:
                return
            self._killed = reason
        if in_background:  # never block the caller's event loop for the grace period
            threading.Thread(target=end_group, args=(self._popen,), daemon=True).start()
        else:
            end_group(self._popen)

    def _reap(self) -> None:
        self._popen.wait()
        self._timer.cancel()
        end_group(self._popen)  # the leader is gone: sweep what it left in its group
        duration = time.monotonic() - self._started
        killed, command = self._killed, self._command
        if killed is not None and command.on_kill is not None:
            command.on_kill()
        # A grandchild that left the group may hold the pipes open: the output stops here.
        for thread in self._threads:
            thread.join(timeout=GRACE_S)
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        found = command.on_exit() if command.on_exit is not None else None
        if killed is not KilledReason.TIMEOUT and found is not None:
            killed = found
        self._result = RunResult(
            argv=command.shown,
            exit_code=self._popen.returncode,
            stdout=self._out.text(),
            stderr=self._err.text(),
            stdout_truncated=self._out.truncated,
            stderr_truncated=self._err.truncated,
            duration_s=duration,
            killed=killed,
            backend=command.backend,
        )
        with self._lock:
            self._done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self) -> RunResult:
        """Wait (without blocking the loop) until it is over and cleaned up; its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if not self._done.is_set():
                self._waiters.append((loop, future))
            else:
                future.set_result(None)
        await future
        assert self._result is not None
        return self._result

    def wait_blocking(self) -> RunResult:
        """`wait` for a caller outside an event loop."""
        self._done.wait()
        assert self._result is not None
        return self._result

    async def stop(self) -> RunResult:
        """End its group now (SIGTERM, grace, SIGKILL), wait, clean up, and report."""
        self._cut(KilledReason.STOPPED)
        return await self.wait()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _not_started(command: Command, exc: OSError) -> RunResult:
    """What a shell reports for a program it cannot start: 127 not found, 126 not runnable."""
    code, said = (127, "command not found") if isinstance(exc, FileNotFoundError) else (126, "")
    said = said or (exc.strerror or str(exc)).lower()
    argv = command.shown
    name = argv[0] if argv else ""
    return RunResult(argv, code, "", f"{name}: {said}", False, False, 0.0, None, command.backend)


async def run(command: Command) -> RunResult:
    """Run `command` to completion or its deadline (see `Process`).

    A program that cannot start gives exit code 127 (not found) or 126 (not executable) and the
    reason on stderr, as a shell would. When the caller is cancelled, the whole group is ended
    and cleaned up before the cancellation goes on.
    """
    try:
        process = Process(command)
    except OSError as exc:
        return _not_started(command, exc)
    try:
        return await process.wait()
    except asyncio.CancelledError:
        process._cut(KilledReason.STOPPED)
        while True:  # nothing it started may outlive the cancellation
            with contextlib.suppress(asyncio.CancelledError):
                await process.wait()
                break
        raise


def run_blocking(command: Command) -> RunResult:
    """`run` for a caller outside an event loop (a tool's version probe)."""
    try:
        process = Process(command)
    except OSError as exc:
        return _not_started(command, exc)
    return process.wait_blocking()

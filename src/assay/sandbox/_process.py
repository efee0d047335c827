"""Running a host process with capped output and a wall-clock timeout that ends its group."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assay.processes import end_group_blocking, run_in_group
from assay.sandbox.base import KilledReason, RunResult

__all__ = ["Capped", "HostService", "Outcome", "run_process"]


class Capped:
    """Keeps at most `limit` bytes of a stream: its beginning and its end, and whether bytes in
    between were dropped. A failing service's last lines (the traceback) are what matter most,
    and a head-only cap lost them behind a chatty start."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        """Bytes between the head and the tail that were not kept."""

    @property
    def truncated(self) -> bool:
        """Whether more came than was kept."""
        return self.dropped > 0

    def feed(self, chunk: bytes) -> None:
        """Add a chunk: fill the head, then keep the latest bytes in the tail."""
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self._tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    @property
    def data(self) -> bytes:
        """The kept bytes, head then tail (without the marker `text` adds)."""
        return bytes(self.head + self.tail)

    def text(self) -> str:
        """The kept bytes decoded leniently, with a line saying how much was left out between."""
        head = self.head.decode(errors="replace")
        if not self.dropped:
            return head + self.tail.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        return f"{head}\n[... {self.dropped} bytes of output not kept ...]\n{tail}"

    def drain_thread(self, stream: IO[bytes]) -> threading.Thread:
        """Start a daemon thread that feeds everything read from `stream` into this buffer."""

        def pump() -> None:
            with contextlib.suppress(OSError, ValueError):
                for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
                    self.feed(chunk)

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return thread


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished host process."""

    exit_code: int
    stdout: Capped
    stderr: Capped
    duration_s: float
    timed_out: bool


async def run_process(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdin: bytes | None,
    timeout: float,
    output_bytes: int,
    on_kill: Callable[[], None] | None = None,
) -> Outcome:
    """Run `argv` in its own session; on timeout or cancellation end the whole group (and call
    `on_kill`)."""
    started = time.monotonic()
    out, err = Capped(output_bytes), Capped(output_bytes)
    exited = await run_in_group(
        argv,
        cwd=cwd,
        env=env,
        stdin=stdin,
        timeout=timeout,
        on_stdout=out.feed,
        on_stderr=err.feed,
        on_kill=on_kill,
    )
    return Outcome(exited.returncode, out, err, time.monotonic() - started, exited.timed_out)


class HostService:
    """A service process started on the host (bwrap launcher or local), with capped output."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        limits_timeout: float,
        output_bytes: int,
        backend: str,
        shown_argv: Sequence[str],
        on_stop: Callable[[], None] | None = None,
        oom: Callable[[], bool] | None = None,
    ) -> None:
        self._started = time.monotonic()
        self._proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._out, self._err = Capped(output_bytes), Capped(output_bytes)
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            self._out.drain_thread(self._proc.stdout),
            self._err.drain_thread(self._proc.stderr),
        ]
        self._timed_out = False
        self._timer = threading.Timer(limits_timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        self._backend = backend
        self._argv = tuple(shown_argv)
        self._on_stop = on_stop
        self._oom = oom

    def _expire(self) -> None:
        self._timed_out = True
        end_group_blocking(self._proc)

    def alive(self) -> bool:
        """True while the launched process runs."""
        return self._proc.poll() is None

    async def stop(self) -> RunResult:
        """End the process group (SIGTERM, grace, SIGKILL), wait, clean up, and report."""
        self._timer.cancel()
        stopped = self.alive()
        await asyncio.to_thread(self._finish)
        killed: KilledReason | None = None
        if self._timed_out:
            killed = KilledReason.TIMEOUT
        elif self._oom is not None and self._oom():
            killed = KilledReason.MEMORY
        elif stopped:
            killed = KilledReason.STOPPED
        if self._on_stop is not None:
            await asyncio.to_thread(self._on_stop)
        return RunResult(
            argv=self._argv,
            exit_code=self._proc.returncode if self._proc.returncode is not None else -1,
            stdout=self._out.text(),
            stderr=self._err.text(),
            stdout_truncated=self._out.truncated,
            stderr_truncated=self._err.truncated,
            duration_s=time.monotonic() - self._started,
            killed=killed,
            backend=self._backend,
        )

    def _finish(self) -> None:
        end_group_blocking(self._proc)
        for thread in self._threads:
            thread.join(timeout=2.0)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

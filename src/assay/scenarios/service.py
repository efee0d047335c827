"""Start the service under test as a subprocess on a free port and wait until it answers.

The sandbox (``assay.sandbox``) will take this over; until then the service runs as a local
process with ``$PORT`` set, a minimal environment, and its output kept for error messages.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shlex
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from assay.errors import RunError, UserError
from assay.scenarios.executor import minimal_env

__all__ = ["RunningService", "ServiceNotHealthy", "free_port", "start_service"]


class ServiceNotHealthy(RunError):
    """The service exited or never answered within the timeout."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningService:
    """A started service: its URL, process, and the last lines it printed."""

    command: str
    url: str
    process: asyncio.subprocess.Process
    output: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))

    def last_output(self, lines: int = 10) -> str:
        """The service's last output lines, joined (``(no output)`` when silent)."""
        tail = list(self.output)[-lines:]
        return " | ".join(line.rstrip() for line in tail) or "(no output)"

    def diagnose(self) -> str:
        """Why the service might not answer: exited (with code) or still running."""
        code = self.process.returncode
        state = "is still running" if code is None else f"exited with code {code}"
        return f"the service ({self.command}) {state}; last output: {self.last_output()}"


async def _pump(stream: asyncio.StreamReader, sink: collections.deque[str]) -> None:
    while line := await stream.readline():
        sink.append(line.decode("utf-8", "replace"))


async def _wait_healthy(svc: RunningService, health_path: str | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=svc.url, timeout=2.0, follow_redirects=False) as client:
        while time.monotonic() < deadline:
            if svc.process.returncode is not None:
                raise ServiceNotHealthy(
                    f"service command `{svc.command}` exited with code "
                    f"{svc.process.returncode} before becoming healthy; last output: "
                    f"{svc.last_output()}"
                )
            try:
                resp = await client.get(health_path or "/")
            except httpx.TransportError:
                await asyncio.sleep(0.05)
                continue
            if health_path is None or resp.is_success:
                return
            await asyncio.sleep(0.1)
    what = f"{health_path} answering 2xx" if health_path else "any HTTP answer"
    raise ServiceNotHealthy(
        f"service command `{svc.command}` never became healthy ({what} on {svc.url}) within "
        f"{timeout:g}s; last output: {svc.last_output()}"
    )


@contextlib.asynccontextmanager
async def start_service(
    command: str,
    *,
    cwd: Path,
    health_path: str | None = None,
    timeout: float = 30.0,
    port: int | None = None,
) -> AsyncIterator[RunningService]:
    """Run `command` in `cwd` with ``$PORT`` set, wait until healthy, stop it on exit."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UserError(f"cannot parse --start command `{command}`: {exc}") from None
    if not argv:
        raise UserError("--start command is empty")
    port = port or free_port()
    env = {**minimal_env([cwd]), "PORT": str(port), "HOST": "127.0.0.1"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise UserError(f"cannot start service `{command}` in {cwd}: {exc.strerror}") from None
    svc = RunningService(command, f"http://127.0.0.1:{port}", proc)
    assert proc.stdout is not None
    pump = asyncio.create_task(_pump(proc.stdout, svc.output))
    try:
        await _wait_healthy(svc, health_path, timeout)
        yield svc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

"""Start the service under test inside a sandbox, wait until it answers, and reach it.

The service runs through `Sandbox.serve` with ``$PORT`` and ``$HOST`` set and the workspace
first on ``PATH``. Under bwrap and docker it listens inside its own network namespace and the
host speaks HTTP to it over a Unix socket (`RunningService.transport`); under the ``local``
backend (no isolation) it is a host process on a free TCP port. Without a sandbox,
`start_service` uses the local backend on `cwd`, which prints its no-isolation warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from assay.errors import RunError, UserError
from assay.processes import search_path
from assay.sandbox import Limits, RunResult, Sandbox, Service
from assay.scenarios.executor import inner_root

__all__ = ["SERVICE_LIFETIME_S", "RunningService", "ServiceNotHealthy", "start_service"]

SERVICE_LIFETIME_S = 3600.0
"""Least wall-clock seconds a service under test may live (the sandbox's `timeout_s` if longer):
it must outlast every scenario, not one command."""


class ServiceNotHealthy(RunError):
    """The service exited or never answered within the timeout."""


@dataclass
class RunningService:
    """A started service: where it answers, how to reach it, and what it printed once stopped."""

    command: str
    service: Service
    transport: httpx.AsyncBaseTransport = field(init=False)
    """An httpx transport to the service; it collects the exit status when the service dies."""

    def __post_init__(self) -> None:
        self.transport = _Watched(self.service.async_transport(), self)

    @property
    def url(self) -> str:
        """The base URL to use with `transport` (a real TCP URL only for the local backend)."""
        return self.service.base_url

    @property
    def result(self) -> RunResult | None:
        """What the service did, once it has stopped."""
        return self.service.result

    def last_output(self, lines: int = 10) -> str:
        """The service's last output lines, joined (``(no output)`` when silent)."""
        result = self.service.result
        if result is None:
            return "(not collected while it runs)"
        text = [*result.stdout.splitlines(), *result.stderr.splitlines()]
        return " | ".join(line.rstrip() for line in text[-lines:]) or "(no output)"

    def diagnose(self) -> str:
        """Why the service might not answer: exited (with code), killed, or still running."""
        result = self.service.result
        if result is None:
            state = "is still running" if self.service.alive() else "has exited"
            return f"the service ({self.command}) {state}"
        state = f"exited with code {result.exit_code}"
        if result.killed is not None and str(result.killed) != "stopped":
            state = f"was killed ({result.killed} limit)"
        return f"the service ({self.command}) {state}; last output: {self.last_output()}"

    async def collect_if_dead(self, grace: float = 0.5) -> None:
        """After a failed request: if the service is exiting, wait for it and keep its output."""
        deadline = time.monotonic() + grace
        while self.service.alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if not self.service.alive():
            await self.service.stop()


class _Watched(httpx.AsyncBaseTransport):
    """Delegates to the service's transport; on a transport error notes whether it died."""

    def __init__(self, inner: httpx.AsyncBaseTransport, svc: RunningService) -> None:
        self._inner = inner
        self._svc = svc

    @property
    def socket_path(self) -> str | None:
        """The service's Unix socket (None on TCP): ws and browser steps relay to it."""
        return self._svc.service.socket_path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._inner.handle_async_request(request)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            await self._svc.collect_if_dead()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()


def _argv(command: str | Sequence[str]) -> tuple[str, list[str]]:
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise UserError(f"cannot parse --start command `{command}`: {exc}") from None
    else:
        argv = list(command)
    if not argv:
        raise UserError("--start command is empty")
    return (command if isinstance(command, str) else shlex.join(argv)), argv


async def _wait_healthy(svc: RunningService, health_path: str | None, timeout: float) -> None:
    service = svc.service
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(
        base_url=svc.url, transport=service.async_transport(), timeout=2.0, follow_redirects=False
    ) as client:
        while time.monotonic() < deadline:
            if not service.alive():
                result = await service.stop()
                raise ServiceNotHealthy(
                    f"service command `{svc.command}` exited with code {result.exit_code} "
                    f"before becoming healthy; last output: {svc.last_output()}"
                )
            if service.uds is not None and not service.uds.exists():
                await asyncio.sleep(0.05)
                continue
            try:
                async with asyncio.timeout(2.0):  # total, not per read: a trickle cannot hang us
                    resp = await client.get(health_path or "/")
            except (httpx.TransportError, TimeoutError):
                await asyncio.sleep(0.05)
                continue
            if health_path is None or resp.is_success:
                return
            await asyncio.sleep(0.1)
    await service.stop()
    what = f"{health_path} answering 2xx" if health_path else "any HTTP answer"
    raise ServiceNotHealthy(
        f"service command `{svc.command}` never became healthy ({what}) within {timeout:g}s "
        f"in the {service.backend} sandbox; last output: {svc.last_output()}"
    )


def _service_limits(sandbox: Sandbox) -> Limits:
    lifetime = max(sandbox.limits.timeout_s, SERVICE_LIFETIME_S)
    return sandbox.limits.model_copy(update={"timeout_s": lifetime})


@contextlib.asynccontextmanager
async def start_service(
    command: str | Sequence[str],
    *,
    sandbox: Sandbox | None = None,
    cwd: Path | None = None,
    health_path: str | None = None,
    timeout: float = 30.0,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[RunningService]:
    """Serve `command` in `sandbox` (or the local backend on `cwd`), wait until healthy, stop on
    exit. Raises `ServiceNotHealthy` (with the service's output) when it never answers."""
    shown, argv = _argv(command)
    if sandbox is None:
        if cwd is None:
            raise UserError("start_service needs a sandbox or a cwd")
        from assay.sandbox.local import LocalSandbox

        sandbox = LocalSandbox(cwd)
    root = inner_root(sandbox)
    inner_env = {"PATH": search_path(root, f"{root}/bin"), "HOST": "127.0.0.1", **(env or {})}
    try:
        service = await sandbox.serve(argv, env=inner_env, limits=_service_limits(sandbox))
    except (FileNotFoundError, PermissionError) as exc:
        where = sandbox.workspace
        raise UserError(f"cannot start service `{shown}` in {where}: {exc.strerror}") from None
    svc = RunningService(shown, service)
    try:
        await _wait_healthy(svc, health_path, timeout)
        yield svc
    finally:
        await service.stop()
        await svc.transport.aclose()

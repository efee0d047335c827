"""A long-running service inside a sandbox, and how the host talks to it.

The host speaks HTTP to the service over a Unix socket that a forwarder inside the sandbox
(`assay.sandbox._forward`) bridges to the service's loopback port; the service itself has no
network interface to the outside. Use `client()` / `async_client()`, or build your own httpx
client from `transport()` / `async_transport()` and `base_url`.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol

import httpx

from assay.errors import RunError
from assay.sandbox._socket_path import SocketPath
from assay.sandbox.base import RunResult

__all__ = ["FORWARDER", "Service", "ServiceProcess"]

FORWARDER = Path(__file__).with_name("_forward.py")
"""The forwarder script that is mounted read-only into the sandbox."""


class ServiceProcess(Protocol):
    """What a backend provides for a running service."""

    def alive(self) -> bool:
        """True while the service (its forwarder) runs."""
        ...

    async def stop(self) -> RunResult:
        """Kill it, clean up, and return what it printed."""
        ...


class Service:
    """A started service: reach it with `client()`; stop it with `stop()` or ``async with``."""

    def __init__(
        self, process: ServiceProcess, *, uds: Path | None, base_url: str, backend: str
    ) -> None:
        self._process = process
        self.uds = uds
        """The Unix socket the host connects to (None for the local backend, which uses TCP)."""
        self._connect = SocketPath(uds) if uds is not None else None
        self.base_url = base_url
        self.backend = backend
        self.result: RunResult | None = None
        """Set once stopped."""

    @property
    def socket_path(self) -> str | None:
        """The path to connect to the service's Unix socket (short even in a deep folder), or
        None when it answers on TCP at `base_url` (the local backend)."""
        return self._connect.path if self._connect else None

    def transport(self) -> httpx.HTTPTransport:
        """A sync httpx transport that reaches the service."""
        return httpx.HTTPTransport(uds=self._connect.path if self._connect else None)

    def async_transport(self) -> httpx.AsyncHTTPTransport:
        """An async httpx transport that reaches the service."""
        return httpx.AsyncHTTPTransport(uds=self._connect.path if self._connect else None)

    def client(self, **kwargs: object) -> httpx.Client:
        """An httpx client with the transport and base URL set."""
        return httpx.Client(transport=self.transport(), base_url=self.base_url, **kwargs)  # type: ignore[arg-type]

    def async_client(self, **kwargs: object) -> httpx.AsyncClient:
        """An async httpx client with the transport and base URL set."""
        return httpx.AsyncClient(
            transport=self.async_transport(),
            base_url=self.base_url,
            **kwargs,  # type: ignore[arg-type]
        )

    def alive(self) -> bool:
        """True while the service runs."""
        return self.result is None and self._process.alive()

    async def wait_ready(self, path: str = "/", timeout: float = 30.0) -> float:
        """Poll `path` until the service answers any HTTP response; returns seconds waited.

        Raises `RunError` (with the service's stderr) if it exits first or the time runs out.
        """
        started = time.monotonic()
        async with self.async_client(timeout=2.0) as client:
            while True:
                if not self.alive():
                    result = await self.stop()
                    raise RunError(
                        f"service exited with {result.exit_code} before answering: "
                        f"{result.stderr.strip()[-2000:] or '(no output)'}"
                    )
                if self.uds is None or self.uds.exists():
                    try:
                        async with asyncio.timeout(2.0):  # total, not per read (a trickle)
                            await client.get(path)
                        return time.monotonic() - started
                    except (httpx.TransportError, TimeoutError):
                        pass
                if time.monotonic() - started > timeout:
                    result = await self.stop()
                    raise RunError(
                        f"service did not answer {path} within {timeout:.0f}s: "
                        f"{result.stderr.strip()[-2000:] or '(no output)'}"
                    )
                await asyncio.sleep(0.05)

    async def stop(self) -> RunResult:
        """Stop the service (idempotent) and return its output."""
        if self.result is None:
            self.result = await self._process.stop()
            if self._connect is not None:
                self._connect.close()
        return self.result

    async def __aenter__(self) -> Service:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

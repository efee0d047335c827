"""A loopback TCP port that relays to the sandboxed service's Unix socket.

A service in the bwrap or docker sandbox is reached over a Unix socket only
(`assay.sandbox.serve`). httpx speaks HTTP over it directly; a WebSocket client can too, but
Chromium cannot. `TcpRelay` listens on ``127.0.0.1`` (a free port) and copies each connection's
bytes to and from a fresh connection to the socket, so ws and browser steps reach the service at
``http://127.0.0.1:PORT``. It runs only while a run has ws or browser steps.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["TcpRelay"]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class TcpRelay:
    """``async with TcpRelay(path) as relay:`` then reach the service at ``relay.url``."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def __aenter__(self) -> TcpRelay:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop listening and cut the open connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()  # both pipes of each connection see the end and return
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(client_w)
        service_w: asyncio.StreamWriter | None = None
        try:
            service_r, service_w = await asyncio.open_unix_connection(self.socket_path)
            self._writers.add(service_w)
            await asyncio.gather(_pipe(client_r, service_w), _pipe(service_r, client_w))
        except (OSError, asyncio.CancelledError):
            # asyncio's stream callback asks a finished handler for its exception; a cancelled
            # one would raise there, so the handler ends normally once its connection is cut
            pass
        finally:
            for writer in (client_w, service_w):
                if writer is not None:
                    writer.close()
                    self._writers.discard(writer)
            self._tasks.discard(task)

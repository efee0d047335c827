"""WebSocket steps, with OctopusGarden's semantics, over the ``websockets`` client.

A step with ``url`` opens a connection (closing an earlier one with the same ``id``); a
background reader buffers every message from then on (up to 1000), so a broadcast that arrives
while an HTTP step runs is there for the next ``receive``. ``send`` writes one text message.
``receive`` takes up to ``count`` buffered messages, waiting at most ``timeout``; receiving fewer
is not an error: the observation says how many came, and the checks and the judge decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from assay.scenarios.model import Step, WsSpec
from assay.scenarios.observation import Observation
from assay.scenarios.substitute import substitute_text

__all__ = ["BUFFER_CAP", "DEFAULT_ID", "WsError", "WsSession", "ws_url"]

DEFAULT_ID = "default"
BUFFER_CAP = 1000
"""Messages kept per connection until a step receives them; later ones are dropped."""
_MESSAGE_LIMIT = 10 * 1024 * 1024


class WsError(Exception):
    """The ws step could not run; the message says why."""


def ws_url(base: str, path: str) -> str:
    """`path` on the service at `base`, with http(s) turned into ws(s)."""
    if base.startswith("https://"):
        base = "wss://" + base.removeprefix("https://")
    elif base.startswith("http://"):
        base = "ws://" + base.removeprefix("http://")
    return base.rstrip("/") + path


@dataclass
class _Conn:
    conn: ClientConnection
    url: str
    messages: list[str] = field(default_factory=list)
    closed: str = ""
    """Why the connection ended, once it has."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        try:
            async for message in self.conn:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                if len(self.messages) < BUFFER_CAP:
                    self.messages.append(text)
                self.arrived.set()
        except ConnectionClosed as exc:
            self.closed = str(exc)
        else:
            self.closed = "closed by the service"
        self.arrived.set()

    async def take(self, count: int, timeout: float) -> list[str]:
        deadline = time.monotonic() + timeout
        got: list[str] = []
        while True:
            n = min(len(self.messages), count - len(got))
            got += self.messages[:n]
            del self.messages[:n]
            if len(got) >= count or self.closed:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.conn.close(), 2.0)
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader


def _body(messages: list[str]) -> str:
    """OctopusGarden's capture body: one message as is, several as a JSON array, none ``[]``."""
    if not messages:
        return "[]"
    if len(messages) == 1:
        return messages[0]
    return "[" + ",".join(messages) + "]"


class WsSession:
    """One scenario's WebSocket connections, by id; `close` ends them all."""

    def __init__(self) -> None:
        self._conns: dict[str, _Conn] = {}

    async def run(
        self, step: Step, variables: Mapping[str, Any], base: str | None, timeout: float
    ) -> Observation:
        """Perform one ws step; raise `WsError` when it cannot."""
        spec = step.ws
        assert spec is not None
        where = step.where
        url = substitute_text(spec.url, variables, where)
        conn_id = substitute_text(spec.id, variables, where) or DEFAULT_ID
        send = substitute_text(spec.send, variables, where)
        start = time.perf_counter()
        if url:
            await self._connect(conn_id, url, base, timeout)
        conn = self._conns.get(conn_id)
        if conn is None:
            raise WsError(
                f"ws connection {conn_id!r} is not open: give url in this step or an earlier one"
            )
        if send:
            try:
                async with asyncio.timeout(timeout):
                    await conn.conn.send(send)
            except (ConnectionClosed, TimeoutError) as exc:
                raise WsError(f"ws: cannot send on {conn_id!r}: {exc or 'timed out'}") from None
        account = f"WebSocket [{conn_id}]"
        if url:
            account += f": connected to {url}"
        if send:
            account += f": sent {len(send.encode())} bytes"
        body = "null"
        if spec.receive is not None:
            messages = await conn.take(spec.receive.count, spec.receive.timeout)
            account += f": received {len(messages)} messages"
            if len(messages) < spec.receive.count:
                why = f"; the connection closed: {conn.closed}" if conn.closed else ""
                account += f" (waited {spec.receive.timeout:g}s for {spec.receive.count}{why})"
            if messages:
                account += "\n" + "\n".join(messages)
            body = _body(messages)
        return Observation(
            kind="ws",
            action=_action(conn_id, url, spec),
            body=body,
            account=account,
            latency_ms=(time.perf_counter() - start) * 1000,
            sent="\n".join(
                line
                for line in (
                    f"ws connect {url}" if url else f"ws (connection {conn_id!r})",
                    f"send: {send}" if send else "",
                    (
                        f"receive: up to {spec.receive.count} message(s) within "
                        f"{spec.receive.timeout:g}s"
                    )
                    if spec.receive
                    else "",
                )
                if line
            ),
        )

    async def _connect(self, conn_id: str, path: str, base: str | None, timeout: float) -> None:
        if base is None:
            raise WsError("ws steps need a service: give --target URL or --code DIR --start CMD")
        if not path.startswith("/") or path.startswith("//"):
            raise WsError(f"ws url {path!r} is not a path on the target (must start with /)")
        old = self._conns.pop(conn_id, None)
        if old is not None:
            await old.close()
        url = ws_url(base, path)
        try:
            conn = await connect(
                url, open_timeout=timeout, max_size=_MESSAGE_LIMIT, proxy=None, compression=None
            )
        except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as exc:
            raise WsError(f"ws: cannot connect to {path}: {exc or type(exc).__name__}") from None
        c = _Conn(conn, path)
        c.reader = asyncio.create_task(c.read())
        self._conns[conn_id] = c

    async def close(self) -> None:
        """Close every connection and stop its reader."""
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            await c.close()


def _action(conn_id: str, url: str, spec: WsSpec) -> str:
    parts = [f"ws {conn_id}"]
    if url:
        parts.append(f"connect {url}")
    if spec.send:
        parts.append("send")
    if spec.receive is not None:
        parts.append(f"receive {spec.receive.count}")
    return " ".join(parts)

"""A tiny JSON-over-HTTP base for the reference services (stdlib only, starts in milliseconds).

Besides JSON it answers HTML pages (`Html`) and redirects (`Redirect`), reads HTML form posts
(``application/x-www-form-urlencoded``) as a dict, and accepts WebSocket upgrades on the paths of
`serve`'s ``websockets`` (RFC 6455 by hand: the handshake, and unmasked text frames out).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import struct
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Reply = tuple[int, Any]
Route = tuple[str, re.Pattern[str], Callable[..., Reply]]

MUTANT = os.environ.get("MUTANT", "")
"""The deliberate bug: wrong-status, missing-field, broken-pagination or ttl-ignored."""


class BadJson(Exception):
    pass


@dataclass
class Html:
    """A text/html reply."""

    text: str


@dataclass
class Redirect:
    """A 303 See Other to `location` (after a form post)."""

    location: str


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """The server side of one accepted WebSocket: `send_text` frames; `wait_closed` reads the
    client's frames until it closes (they are ignored).

    The handshake's 101 is held back (`handshake`: the handler's `end_headers`, which writes it)
    until the route first sends or waits, so a route that subscribes first has subscribed before
    the client sees the connection open: its next request cannot race the subscription."""

    def __init__(self, sock: socket.socket, rfile: Any, handshake: Any = None) -> None:
        self.sock = sock
        self.rfile = rfile
        self._handshake = handshake
        self._lock = threading.Lock()

    def _open(self) -> None:
        # Once the 101 is out, the client may ask for a broadcast whose thread sends here while
        # the route's own thread is still in the handshake: without the lock both could write
        # it, and the second's bare CRLF would corrupt the first frame.
        with self._lock:
            handshake, self._handshake = self._handshake, None
            if handshake is not None:
                handshake()

    def send_text(self, text: str) -> None:
        self._open()
        data = text.encode()
        n = len(data)
        head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126]) + struct.pack("!H", n)
        self.sock.sendall(head + data)

    def wait_closed(self) -> None:
        self._open()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 0x8:
                return
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", self.rfile.read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self.rfile.read(8))[0]
            self.rfile.read(4 + n)  # the mask and the payload


_SERVED = [0]
EXIT_AFTER = int(os.environ.get("EXIT_AFTER", "0"))
"""When set, the service dies after answering this many requests (to test a mid-run crash)."""


def _count_and_maybe_exit() -> None:
    _SERVED[0] += 1
    if EXIT_AFTER and _SERVED[0] >= EXIT_AFTER:
        print(f"exiting after {EXIT_AFTER} requests", flush=True)
        os._exit(3)


WsRoute = tuple[re.Pattern[str], Callable[..., None]]


def _parse_body(content_type: str, raw: bytes) -> Any:
    """A form post as a dict, else JSON (None when empty); ValueError when it is not JSON."""
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    return json.loads(raw) if raw else None


def _encoded(payload: Any) -> tuple[bytes, list[tuple[str, str]]]:
    """The reply's body and its headers (Content-Type, or a redirect's Location)."""
    if isinstance(payload, Redirect):
        return b"", [("Location", payload.location)]
    if isinstance(payload, Html):
        return payload.text.encode(), [("Content-Type", "text/html; charset=utf-8")]
    if payload is None:
        return b"", []
    return json.dumps(payload).encode(), [("Content-Type", "application/json")]


def _accept(handler: BaseHTTPRequestHandler, path: str, websockets: list[WsRoute]) -> bool:
    """Complete the WebSocket handshake and run the route; False when no route matches."""
    for pattern, fn in websockets:
        m = pattern.fullmatch(path)
        if m and handler.headers.get("Sec-WebSocket-Key"):
            key = handler.headers["Sec-WebSocket-Key"] + _WS_GUID
            accept = base64.b64encode(
                hashlib.sha1(key.encode(), usedforsecurity=False).digest()
            ).decode()
            handler.send_response(101)
            handler.send_header("Upgrade", "websocket")
            handler.send_header("Connection", "Upgrade")
            handler.send_header("Sec-WebSocket-Accept", accept)
            ws = WebSocket(handler.connection, handler.rfile, handler.end_headers)
            fn(*[unquote(g) for g in m.groups()], ws=ws)
            ws._open()  # a route that neither sent nor waited still completes the handshake
            handler.close_connection = True
            return True
    return False


def serve(routes: list[Route], websockets: list[WsRoute] | None = None) -> None:
    """Serve `routes` on 127.0.0.1:$PORT until killed; a WebSocket upgrade on a path of
    `websockets` calls its function with the path's groups and the `WebSocket`, in the
    request's thread, for as long as the connection lasts."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes; without this, Nagle + delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if self.headers.get("Upgrade", "").lower() == "websocket":
                if not _accept(self, url.path, websockets or []):
                    self._send(404, {"error": "no WebSocket here"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = _parse_body(self.headers.get("Content-Type", ""), raw)
            except ValueError:
                self._send(400, {"error": "body is not valid JSON"})
                return
            for method, pattern, fn in routes:
                m = pattern.fullmatch(url.path)
                if m and method == self.command:
                    args = [unquote(g) for g in m.groups()]
                    self._send(*fn(*args, query=query, body=body))
                    return
            self._send(404, {"error": "not found"})

        def _send(self, status: int, payload: Any) -> None:
            data, headers = _encoded(payload)
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            _count_and_maybe_exit()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"listening on 127.0.0.1:{port} mutant={MUTANT or 'none'}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)

"""A tiny JSON-over-HTTP base for the reference services (stdlib only, starts in milliseconds)."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

Reply = tuple[int, Any]
Route = tuple[str, re.Pattern[str], Callable[..., Reply]]

MUTANT = os.environ.get("MUTANT", "")
"""The deliberate bug: wrong-status, missing-field, broken-pagination or ttl-ignored."""


class BadJson(Exception):
    pass


_SERVED = [0]
EXIT_AFTER = int(os.environ.get("EXIT_AFTER", "0"))
"""When set, the service dies after answering this many requests (to test a mid-run crash)."""


def _count_and_maybe_exit() -> None:
    _SERVED[0] += 1
    if EXIT_AFTER and _SERVED[0] >= EXIT_AFTER:
        print(f"exiting after {EXIT_AFTER} requests", flush=True)
        os._exit(3)


def serve(routes: list[Route]) -> None:
    """Serve `routes` on 127.0.0.1:$PORT until killed."""

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
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
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
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
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

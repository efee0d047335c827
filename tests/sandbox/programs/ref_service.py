"""Reference HTTP service for the sandbox tests: stdlib only, listens on 127.0.0.1:$PORT.

GET /            -> {"ok": true}
GET /probe?host=H&port=P  -> tries a TCP connection from inside and reports what happened
"""

import json
import os
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        url = urlparse(self.path)
        body: dict[str, object]
        if url.path == "/probe":
            q = parse_qs(url.query)
            host, port = q["host"][0], int(q["port"][0])
            try:
                with socket.create_connection((host, port), timeout=2) as conn:
                    conn.sendall(b"escaped\n")
                body = {"connected": True}
            except OSError as exc:
                body = {"connected": False, "error": str(exc)}
        else:
            body = {"ok": True, "pid": os.getpid()}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()

"""A local OSV-compatible vulnerability service for tests: pip-audit's ``--osv-url`` is pointed
at it, so an audit has a known answer and needs no network.

pip-audit POSTs ``{"package": {"name", "ecosystem": "PyPI"}, "version"}`` to the URL and reads
``{"vulns": [...]}`` back (an empty object: nothing known). `OsvService.advise` says which
(name, version) pairs are vulnerable; every query is kept in `queries`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["IDNA_VULN", "OsvService", "advisory", "osv_service"]


def advisory(vuln_id: str, package: str, fixed: str, *, summary: str, alias: str) -> dict[str, Any]:
    """An OSV record for `package`, affected from 0 up to `fixed` (the shape pip-audit reads)."""
    return {
        "id": vuln_id,
        "summary": summary,
        "aliases": [alias],
        "affected": [
            {
                "package": {"name": package, "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
    }


IDNA_VULN = advisory(
    "GHSA-jjg7-2v4v-x38h", "idna", "3.7", alias="CVE-2024-3651",
    summary="Internationalized Domain Names in Applications (IDNA) vulnerable to denial of service",
)  # fmt: skip
"""A real advisory: idna before 3.7 (quadratic time on crafted input to ``idna.encode``)."""


class OsvService:
    """The advisories it knows, by (canonical name, exact version), and what it was asked."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.known: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.queries: list[tuple[str, str]] = []

    def advise(self, name: str, version: str, vuln: dict[str, Any]) -> None:
        """Report `vuln` for `name` at exactly `version`."""
        self.known.setdefault((name, version), []).append(vuln)

    def answer(self, name: str, version: str) -> dict[str, Any]:
        self.queries.append((name, version))
        vulns = self.known.get((name, version))
        return {"vulns": vulns} if vulns else {}


@contextmanager
def osv_service() -> Iterator[OsvService]:
    """A running service on 127.0.0.1 (a free port), stopped on exit."""
    holder: list[OsvService] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = holder[0].answer(query["package"]["name"], query["version"])
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(OsvService(f"http://127.0.0.1:{server.server_address[1]}/v1/query"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""Helpers for the gate tests: fixture projects copied to temporary folders, a runner shortcut,
and a local OSV-compatible vulnerability service so the dependency audit never needs the network.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assay.config import Settings
from assay.gates.base import Gate, GateReport
from assay.gates.runner import run_gates

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "gates"


def copy_fixture(name: str, dest: Path) -> Path:
    """A fresh copy of fixture project `name` at `dest` (so scans never write into the repo)."""
    shutil.copytree(FIXTURES / name, dest)
    return dest


def run(
    root: Path, gates: Sequence[Gate], settings: Settings | None = None, **kw: Any
) -> GateReport:
    """Run `gates` over `root` synchronously; caching is on under root/.assay/cache by default."""
    kw.setdefault("cache_dir", root / ".assay" / "cache")
    return asyncio.run(run_gates(root, settings or Settings(), gates, **kw))


@pytest.fixture(scope="session")
def gl() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under importlib mode)."""
    return SimpleNamespace(copy=copy_fixture, run=run, fixtures=FIXTURES, osv_vuln=OSV_VULN)


@pytest.fixture
def project(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: copy a fixture project into this test's temporary folder."""

    def make(name: str) -> Path:
        return copy_fixture(name, tmp_path / name)

    return make


# A vulnerability the fake OSV service reports for requests 2.19.0 (a real advisory).
OSV_VULN = {
    "id": "GHSA-x84v-xcm2-53pg",
    "summary": "Insufficiently Protected Credentials in Requests",
    "aliases": ["CVE-2018-18074"],
    "affected": [
        {
            "package": {"name": "requests", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
        }
    ],
}


class _OsvHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        pkg, version = query["package"]["name"], query["version"]
        body = {"vulns": [OSV_VULN]} if (pkg, version) == ("requests", "2.19.0") else {}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def osv_url() -> Iterator[str]:
    """URL of a local OSV query endpoint that knows one advisory (requests 2.19.0)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OsvHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    server.shutdown()
    server.server_close()
    thread.join()

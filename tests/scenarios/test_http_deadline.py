"""Every HTTP request a scenario step makes has a total deadline, not only a per-read timeout:
a target that trickles its answer one byte a second is cut off at the step's timeout."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.cli import main
from tests.conftest import line_with

SCENARIO = """\
id: trickle
description: the target answers, one byte a second
steps:
  - description: ask for the slow page
    request: {method: GET, path: /slow}
    assert: {status: 200}
"""

BODY = b"x" * 40
"""Forty seconds of trickle: far past the 2 s deadline, short enough that a regression ends."""


class _Trickler(socketserver.BaseRequestHandler):
    """Sends a valid HTTP response one byte a second (the headers too, when asked)."""

    headers_too = False

    def handle(self) -> None:
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY)
        if not self.headers_too:
            self.request.sendall(head)
        for byte in (head if self.headers_too else b"") + BODY:
            try:
                self.request.sendall(bytes([byte]))
            except OSError:  # the client gave up: what the test wants
                return
            time.sleep(1)


class _HeaderTrickler(_Trickler):
    headers_too = True


def _serve(handler: type[socketserver.BaseRequestHandler]) -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def body_trickler() -> Iterator[str]:
    yield from _serve(_Trickler)


@pytest.fixture
def header_trickler() -> Iterator[str]:
    yield from _serve(_HeaderTrickler)


def _validate(tmp_path: Path, target: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "trickle.yaml").write_text(SCENARIO)
    code = main(["validate", "-s", str(folder), "--target", target, "--request-timeout", "2", "-v"])
    return code, capsys.readouterr().out


def test_target_trickling_one_byte_a_second_times_out(
    tmp_path: Path, body_trickler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _validate(tmp_path, body_trickler, capsys)
    assert code == 1
    line_with(out, "GET /slow", "no complete answer within 2s")


def test_target_trickling_its_headers_times_out(
    tmp_path: Path, header_trickler: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _validate(tmp_path, header_trickler, capsys)
    assert code == 1
    line_with(out, "GET /slow", "within 2s")

"""Serving: the reference service runs in each sandbox, the host reaches it, it cannot reach out."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
import pytest

from assay.errors import RunError
from assay.sandbox import KilledReason, Limits

from .conftest import make_sandbox

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize("backend", ["bwrap", "docker", "docker-session"])
async def test_reference_service_is_reachable_and_isolated(backend: str, workspace: Path) -> None:
    sandbox = make_sandbox(backend, workspace, Limits(timeout_s=60, memory_mb=256, pids=64))
    accepted: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    port = listener.getsockname()[1]

    def accept_once() -> None:
        try:
            conn, _ = listener.accept()
            accepted.append(conn.recv(64))
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept_once, daemon=True)
    thread.start()
    try:
        async with await sandbox.serve(["python3", "ref_service.py"], port=8080) as service:
            assert service.uds is not None
            await service.wait_ready("/", timeout=30)
            async with service.async_client(timeout=10) as client:
                assert (await client.get("/")).json()["ok"] is True
                probe = await client.get("/probe", params={"host": "127.0.0.1", "port": port})
            with httpx.Client(transport=service.transport(), base_url=service.base_url) as sync:
                assert sync.get("/").status_code == 200
        assert probe.json()["connected"] is False
        assert service.result is not None and service.result.killed is KilledReason.STOPPED
    finally:
        listener.close()
        thread.join()
        sandbox.close()
    assert accepted == []


async def test_a_service_that_dies_is_reported(workspace: Path) -> None:
    sandbox = make_sandbox("bwrap", workspace, Limits(timeout_s=30))
    service = await sandbox.serve(["python3", "-c", "import sys; sys.exit('boom at startup')"])
    with pytest.raises(RunError, match="boom at startup"):
        await service.wait_ready("/", timeout=20)
    assert service.result is not None and service.result.exit_code != 0

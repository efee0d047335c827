"""The docker backend's engine failing mid-run is one clear `SandboxError`, never "internal error".

Against a real engine (Podman's or Docker's API, `docker_base_url`): an image made here from an
empty root filesystem (``import``, no registry) has no ``python3``, so the engine itself refuses
to start a command in it; and an engine reached through a Unix-socket relay that is shut down
after the sandbox opened is an engine that died mid-run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import RunError, SandboxError
from assay.sandbox.base import SandboxUnavailable
from assay.sandbox.docker import DockerSandbox, docker_base_url, docker_client
from tests.conftest import require_or_skip

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "tests" / "compat" / "octopusgarden" / "hello-api" / "scenarios"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(endpoint, image): a running engine and an image in it with nothing inside."""
    endpoint = docker_base_url()
    try:
        client = docker_client(endpoint)
    except SandboxUnavailable as exc:
        require_or_skip(False, f"docker: {exc}")
        raise
    base = tmp_path_factory.mktemp("empty-image")
    archive = base / "rootfs.tar"
    with tarfile.open(archive, "w"):
        pass  # an empty root filesystem
    said = client.api.import_image(src=str(archive))
    image_id = json.loads(said.strip().splitlines()[-1])["id"]
    image = f"localhost/assay-test-empty:{os.getpid()}"
    client.images.get(image_id).tag(*image.rsplit(":", 1))
    try:
        yield endpoint, image
    finally:
        with contextlib.suppress(Exception):
            client.images.remove(image, force=True)
        client.close()


class _Relay:
    """A Unix socket relaying every connection to the engine's, until `die`: from then on every
    connection is cut, as by an engine that crashed with its socket still in place."""

    def __init__(self, path: Path, engine: str) -> None:
        self.path = path
        self.engine = engine.removeprefix("unix://")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(path))
        self.listener.listen(16)
        self.dead = False
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                if self.dead:
                    client.close()
                    continue
                upstream = socket.socket(socket.AF_UNIX)
                upstream.connect(self.engine)
                self.open += [client, upstream]
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def die(self) -> None:
        """The engine goes away: every connection is cut, new ones are dropped unanswered."""
        self.dead = True
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Remove the socket."""
        self.die()
        self.listener.close()
        self.path.unlink(missing_ok=True)


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def test_the_engine_refusing_a_command_is_a_sandbox_error(
    engine: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, image = engine
    box = DockerSandbox(_workspace(tmp_path), image=image, base_url=endpoint)
    try:
        with pytest.raises(SandboxError) as raised:
            asyncio.run(box.run(["python3", "-c", "print(1)"]))
    finally:
        box.close()
    message = str(raised.value)
    assert message.startswith(
        f"the container engine at {endpoint} refused to run 'python3 -c print(1)': "
    )
    assert "python3" in message and "not found" in message
    assert isinstance(raised.value, RunError)  # resumable: the run, not the user, failed
    assert not list(tmp_path.joinpath("ws").iterdir())


def test_an_engine_that_dies_mid_run_is_a_sandbox_error(
    engine: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, image = engine
    # short and fixed-length: a Unix socket path is limited to 107 bytes, tmp_path is not
    relay_path = Path(f"/tmp/assay-relay-{os.getpid()}-{tmp_path.name[-6:]}.sock")  # nosec B108
    relay = _Relay(relay_path, endpoint)
    try:
        box = DockerSandbox(_workspace(tmp_path), image=image, base_url=f"unix://{relay_path}")
        relay.die()  # opened (ping, image found); the engine goes before the first command
        with pytest.raises(SandboxError) as raised:
            asyncio.run(box.run(["true"]))
        box.close()
    finally:
        relay.close()
    message = str(raised.value)
    assert message.startswith(
        f"lost the container engine at unix://{relay_path} while trying to run 'true' ("
    )
    assert message.endswith("); is it still running?")


def test_the_cli_says_sandbox_error_not_internal_error(
    engine: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint, image = engine
    code = tmp_path / "svc"
    code.mkdir()
    shutil.copy(REPO / "tests" / "reference" / "hello_api.py", code)
    (code / "assay.toml").write_text(
        f'[sandbox]\nimage = "{image}"\ndocker_host = "{endpoint}"\n', encoding="utf-8"
    )
    argv = ["validate", "-s", str(HELLO), "--code", str(code), "--start", "python3 hello_api.py"]
    assert main([*argv, "--sandbox", "docker"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(
        f"error: the container engine at {endpoint} refused to start the service "
        "'python3 hello_api.py': "
    ), err
    assert "not found" in err
    assert "internal error" not in err and "Traceback" not in err

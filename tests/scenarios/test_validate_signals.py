"""No process outlives `assay validate --code` (issue 12, build point 9): SIGTERM and SIGINT stop
the service with its whole process group (local backend), its sandbox (bwrap) or its container
(docker), and remove the folders assay made for it; an exec step's process or container goes too.

A real `assay validate` subprocess serves `serve.py`, which starts a grandchild and answers
``/slow`` never: the signal is sent once the service has written its marker on that request (or
the exec step its own), so it lands mid-step. Every process carries a token in its argv; /proc
(where a container's processes show too) is then scanned for it, and Podman asked for containers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from assay.sandbox.bwrap import bwrap_problem
from assay.sandbox.docker import DEFAULT_IMAGE, docker_problem
from tests.conftest import require_or_skip
from tests.survivors import assay, containers, marked, signal_and_wait, wait_until

SERVICE = '''\
"""Answers / at once and /slow never; a grandchild sleeps beside it. argv[1] is a token."""
import http.server, os, pathlib, subprocess, sys, time

TOKEN = sys.argv[1]
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", TOKEN])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            pathlib.Path("marker").write_text(f"{os.getpid()} {child.pid}")
            time.sleep(300)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''

SLOW_REQUEST = """\
id: slow
description: the service never answers /slow
steps:
  - description: wait for the slow page
    request: {method: GET, path: /slow}
    assert: {status: 200}
"""

SLOW_EXEC = """\
id: slow-exec
description: an exec step that never ends
steps:
  - description: sleep in the sandbox
    exec:
      command: >-
        python3 -c "import pathlib, time; pathlib.Path('marker').write_text('x');
        time.sleep(300)" {token}
      timeout: 300
    assert: {exit_code: 0}
"""


def _setup(tmp_path: Path, scenario: str) -> tuple[str, Path, Path, dict[str, str]]:
    token = f"assay-signal-{uuid.uuid4().hex}"
    code = tmp_path / "code"
    code.mkdir()
    (code / ".git").mkdir()  # the project root: config lookup stops here
    (code / "serve.py").write_text(SERVICE)
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "slow.yaml").write_text(scenario.replace("{token}", token))
    temp = tmp_path / "tmp"
    temp.mkdir()
    return token, code, folder, {"TMPDIR": str(temp)}


def _validate(folder: Path, code: Path, backend: str, python: str, token: str) -> list[str]:
    start = f"{python} serve.py {token}"
    return ["validate", "-s", str(folder), "--code", str(code), "--start", start,
            "--sandbox", backend, "--request-timeout", "300"]  # fmt: skip


def _docker() -> None:
    problem = docker_problem(DEFAULT_IMAGE)
    require_or_skip(problem is None, f"docker: {problem}")


def _check(
    tmp_path: Path, proc: subprocess.Popen[str], sig: signal.Signals, token: str
) -> dict[int, str]:
    rc, err, left = signal_and_wait(proc, sig, token)
    assert rc == 128 + sig, err
    assert left == {}, f"still running after assay exited: {left}"
    assert list((tmp_path / "tmp").iterdir()) == []  # the sandbox's own folders are gone
    return left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_sigterm_to_validate_code_stops_the_service(tmp_path: Path, sig: signal.Signals) -> None:
    token, code, folder, env = _setup(tmp_path, SLOW_REQUEST)
    proc = assay(_validate(folder, code, "local", sys.executable, token), cwd=tmp_path, env=env)
    marker = code / "marker"
    wait_until(lambda: marker.exists() and marker.read_text(), "the service's marker", running=proc)
    service, grandchild = (int(p) for p in marker.read_text().split())
    assert {service, grandchild} <= set(marked(token))

    _check(tmp_path, proc, sig, token)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_sigterm_to_validate_code_ends_the_bwrap_sandbox(
    tmp_path: Path, sig: signal.Signals
) -> None:
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")
    token, code, folder, env = _setup(tmp_path, SLOW_REQUEST)
    proc = assay(_validate(folder, code, "bwrap", sys.executable, token), cwd=tmp_path, env=env)
    marker = code / "marker"
    wait_until(lambda: marker.exists() and marker.read_text(), "the service's marker", running=proc)
    assert len(marked(token)) >= 2, "the service and its grandchild show in /proc"

    _check(tmp_path, proc, sig, token)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_sigterm_to_validate_code_removes_the_docker_container(
    tmp_path: Path, sig: signal.Signals
) -> None:
    _docker()
    token, code, folder, env = _setup(tmp_path, SLOW_REQUEST)
    proc = assay(_validate(folder, code, "docker", "python3", token), cwd=tmp_path, env=env)
    marker = code / "marker"
    wait_until(lambda: marker.exists() and marker.read_text(), "the service's marker", running=proc)
    assert marked(token), "the container's processes show in /proc"
    assert containers(code)

    _check(tmp_path, proc, sig, token)
    assert containers(code) == []


@pytest.mark.parametrize("backend", ["local", "docker"])
def test_sigterm_during_an_exec_step_ends_it(tmp_path: Path, backend: str) -> None:
    if backend == "docker":
        _docker()
    token, code, folder, env = _setup(tmp_path, SLOW_EXEC)
    python = sys.executable if backend == "local" else "python3"
    args = _validate(folder, code, backend, python, token)
    proc = assay(args, cwd=tmp_path, env=env)
    marker = code / "marker"
    wait_until(marker.exists, "the exec step's marker", running=proc)
    assert any("time.sleep(300)" in argv for argv in marked(token).values())

    _check(tmp_path, proc, signal.SIGTERM, token)
    if backend == "docker":
        assert containers(code) == []

"""No process outlives `assay gate` (issue 12, build point 9): SIGTERM, SIGINT and the gate's
timeout end the whole process group of every tool, a test's `sleep` grandchild included, and the
temporary folders the tools used (pip-audit's throw-away virtualenv) are removed.

Each test drives a real `assay gate` subprocess over a project whose pytest test starts a
grandchild and writes a marker file once it runs; the signal is sent only after the marker exists.
Every process the command starts carries a token in its environment; /proc is then scanned for it.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.errors import ToolMissingError
from assay.gates._tool import find_tool
from tests.survivors import alive, assay, marked, signal_and_wait, wait_until

# The project's test: starts `sleep 300` (a grandchild of the pytest gate) and, when asked,
# waits until semgrep runs too, so the signal lands while both tools are busy.
SLEEPY_TEST = """\
import os, pathlib, subprocess, time

TOKEN = os.environ["ASSAY_SIGNAL_TOKEN"].encode()


def _semgrep_running():
    for entry in pathlib.Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes()
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"semgrep" in argv and TOKEN in env:
            return entry.name
    return None


def test_sleeps():
    child = subprocess.Popen(["sleep", "300"])
    semgrep = None
    if os.environ.get("WAIT_FOR_SEMGREP"):
        deadline = time.monotonic() + 120
        while semgrep is None and time.monotonic() < deadline:
            semgrep = _semgrep_running()
            time.sleep(0.05)
    pathlib.Path(os.environ["ASSAY_SIGNAL_MARKER"]).write_text(f"{child.pid} {semgrep}")
    child.wait()
"""


def _project(tmp_path: Path, pytest_options: str = "") -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / ".git").mkdir()  # the project root: config lookup stops here
    (root / "pyproject.toml").write_text(
        '[project]\nname = "sleepy"\nversion = "0.1"\n\n'
        f"[tool.assay.gates.pytest]\ncoverage = 0\n{pytest_options}"
    )
    (root / "app.py").write_text('"""An app."""\n\n\ndef one() -> int:\n    return 1\n')
    (root / "tests" / "test_sleepy.py").write_text(SLEEPY_TEST)
    return root


def _env(tmp_path: Path, **extra: str) -> tuple[str, Path, dict[str, str]]:
    token = f"assay-signal-{uuid.uuid4().hex}"
    marker = tmp_path / "marker"
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"ASSAY_SIGNAL_TOKEN": token, "ASSAY_SIGNAL_MARKER": str(marker), "TMPDIR": str(temp)}
    return token, marker, {**env, **extra}


def _grandchild(marker: Path, proc: subprocess.Popen[str]) -> tuple[int, str]:
    """The sleep's pid and semgrep's (or "None"), once the project's test wrote them."""
    wait_until(lambda: marker.exists() and marker.read_text(), "the test's sleep", running=proc)
    sleep_pid, semgrep = marker.read_text().split()
    return int(sleep_pid), semgrep


@pytest.mark.parametrize(
    ("sig", "code", "said"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
    ids=["sigterm", "sigint"],
)
def test_sigterm_to_gate_leaves_no_pytest_or_semgrep_running(
    tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    try:
        find_tool("semgrep", extra="semgrep")
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    root = _project(tmp_path)
    token, marker, env = _env(tmp_path, WAIT_FOR_SEMGREP="1")
    args = ["gate", "--no-cache", "--only", "pytest", "--only", "semgrep", "-j", "2"]
    proc = assay(args, cwd=root, env=env)
    sleep_pid, semgrep = _grandchild(marker, proc)
    running = marked(token)
    assert semgrep != "None", "semgrep finished before the signal: nothing to show"
    assert int(semgrep) in running and sleep_pid in running
    assert any("pytest" in argv for argv in running.values())

    rc, err, left = signal_and_wait(proc, sig, token)

    assert rc == code, err
    assert err.strip().splitlines()[-1] == said
    assert left == {}, f"still running after assay exited: {left}"
    assert not alive(sleep_pid)
    assert list((tmp_path / "tmp").iterdir()) == []  # each tool's private TMPDIR is gone


def test_sigint_to_gate_kills_the_tests_sleep_grandchild(tmp_path: Path) -> None:
    root = _project(tmp_path)
    token, marker, env = _env(tmp_path)
    proc = assay(["gate", "--no-cache", "--only", "pytest"], cwd=root, env=env)
    sleep_pid, _ = _grandchild(marker, proc)

    rc, err, left = signal_and_wait(proc, signal.SIGINT, token)

    assert rc == 130, err
    assert left == {} and not alive(sleep_pid)


def test_gate_timeout_kills_the_tests_sleep_grandchild(tmp_path: Path) -> None:
    root = _project(tmp_path, "timeout = 20\n")
    token, marker, env = _env(tmp_path)
    proc = assay(["gate", "--no-cache", "--only", "pytest"], cwd=root, env=env)
    sleep_pid, _ = _grandchild(marker, proc)
    assert alive(sleep_pid)

    out, err = proc.communicate(timeout=300)  # the gate's own 20 s timeout ends the run

    assert proc.returncode == 1, err
    assert "did not finish within 20s" in out
    wait_until(lambda: not alive(sleep_pid), "the killed sleep to vanish", limit=10)
    assert marked(token) == {}


@pytest.fixture
def stalling_index() -> Iterator[str]:
    """A package index that accepts connections and never answers: pip waits in the venv."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple/"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def _audited_project(tmp_path: Path, options: str = "") -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / ".git").mkdir()
    (root / "pyproject.toml").write_text(
        f"[tool.assay.gates.depaudit]\nsocket_timeout = 300\n{options}"
    )
    (root / "requirements.txt").write_text("six==1.16.0\n")
    return root


def test_pip_audit_temp_venv_is_removed(tmp_path: Path, stalling_index: str) -> None:
    root = _audited_project(tmp_path)
    token, _marker, env = _env(tmp_path, PIP_INDEX_URL=stalling_index)
    temp = tmp_path / "tmp"
    proc = assay(["gate", "--no-cache", "--only", "depaudit"], cwd=root, env=env)
    # pip-audit builds its virtualenv under TMPDIR, then pip hangs on the silent index
    wait_until(lambda: any(temp.rglob("pyvenv.cfg")), "pip-audit's virtualenv", running=proc)

    rc, err, left = signal_and_wait(proc, signal.SIGTERM, token)

    assert list(temp.rglob("pyvenv.cfg")) == [], "pip-audit's temporary virtualenv was left"
    assert list(temp.iterdir()) == []
    assert left == {}
    assert rc == 143, err


@pytest.mark.slow
def test_pip_audit_killed_by_the_gate_timeout_leaves_no_venv(
    tmp_path: Path, stalling_index: str
) -> None:
    # pip-audit builds its venv in seconds; the gate's 60 s timeout then ends it mid-install
    root = _audited_project(tmp_path, "timeout = 60\n")
    token, _marker, env = _env(tmp_path, PIP_INDEX_URL=stalling_index)
    temp = tmp_path / "tmp"
    proc = assay(["gate", "--no-cache", "--only", "depaudit"], cwd=root, env=env)
    wait_until(lambda: any(temp.rglob("pyvenv.cfg")), "pip-audit's virtualenv", running=proc)

    out, err = proc.communicate(timeout=300)

    assert "did not finish within 60s" in out, err
    assert list(temp.iterdir()) == [], "pip-audit's temporary virtualenv was left behind"
    wait_until(lambda: marked(token) == {}, "pip-audit and pip to vanish", limit=10)

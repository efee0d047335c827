"""`assay run` end to end with the docker backend while assay runs as root (as CI does).

The real CLI runs in a subprocess with a scripted team (`docker_root_team`): the pytest gate and
the holdout service run in containers as the non-root sandbox user, the run is killed (``kill -9``)
after those sandboxed steps, and `assay resume` finishes it. Host git must keep working in the
workspace throughout, and every file there must stay the host user's, whatever the container user
wrote. (Before the fix the workspace was left owned by uid 65532 and git refused it: "detected
dubious ownership in repository".)
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assay.ledger import Ledger, verify_run
from assay.sandbox import Limits
from assay.sandbox.docker import DEFAULT_IMAGE, DockerSandbox, docker_client, docker_problem
from assay.sandbox.ownership import SANDBOX_UID
from tests.conftest import require_or_skip
from tests.integration import docker_root_team

pytestmark = pytest.mark.sandbox

HERE = Path(__file__).parent
SPEC = "---\nname: svc\n---\n# Where service\n\nSays where it runs.\n"
CONFIG = """\
[factory]
gates = ["ruff", "pytest"]
max_iterations = 3

[sandbox]
backend = "docker"
timeout_s = 120
memory_mb = 512

# The image's pytest-cov (Debian bookworm's 4.0) cannot write the JSON coverage report.
[gates.pytest]
coverage = 0
"""
SCENARIO = """\
id: inside
description: The service runs in the sandbox
steps:
  - description: Ask where it runs
    request: {method: GET, path: /where}
    assert:
      status: 200
      json:
        - {path: $.cwd, equals: "/workspace"}
        - {path: $.version, equals: 2}
"""


@pytest.fixture
def root_and_docker() -> None:
    require_or_skip(os.geteuid() == 0, "the root-run docker backend needs root")
    problem = docker_problem(DEFAULT_IMAGE)
    require_or_skip(problem is None, f"docker: {problem}")


def _project(tmp: Path) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "assay.toml").write_text(CONFIG)
    (tmp / ".git").mkdir()  # stop the config lookup here
    spec = tmp / "spec.md"
    spec.write_text(SPEC)
    scenarios = tmp / "scenarios"
    scenarios.mkdir()
    (scenarios / "inside.yaml").write_text(SCENARIO)
    (tmp / "state").mkdir()
    return spec, scenarios


def _assay(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        ASSAY_TESTING_MODELS="docker_root_team:models",
        PYTHONPATH=str(HERE),
        DOCKER_HOST=os.environ.get("DOCKER_HOST", "unix:///run/podman/podman.sock"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        HOME=str(tmp / "home"),
        **{docker_root_team.STATE_ENV: str(tmp / "state")},
    )
    return subprocess.run(
        [sys.executable, "-m", "assay.cli", *args, "--no-live"], cwd=tmp, env=env,
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip


def _git(workspace: Path, *args: str) -> str:
    """Host git as a user runs it: its own config, no safe.directory exception."""
    proc = subprocess.run(
        ["git", *args], cwd=workspace, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def _foreign(workspace: Path) -> list[str]:
    """Entries in `workspace` not owned by this process's user and group."""
    uid, gid = os.geteuid(), os.getegid()
    found = []
    for dirpath, dirnames, filenames in os.walk(workspace):
        for name in ["", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (st.st_uid, st.st_gid) != (uid, gid):
                found.append(f"{os.path.relpath(path, workspace)} {st.st_uid}:{st.st_gid}")
    return found


def _chown_all(root: Path, uid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), uid, uid)


@pytest.mark.slow
def test_assay_run_and_resume_with_docker_as_root(root_and_docker: None, tmp_path: Path) -> None:
    spec, scenarios = _project(tmp_path)
    runs = tmp_path / "runs"
    first = _assay(
        tmp_path, "run", str(spec), "--scenarios", str(scenarios), "--runs-dir", str(runs)
    )
    assert first.returncode == -signal.SIGKILL, first.stderr  # the coder's kill -9, iteration 2
    (run_dir,) = [p.parent for p in runs.glob("*/ledger.sqlite")]
    workspace = run_dir / "workspace"
    with Ledger.open(run_dir, create=False) as ledger:
        done = {e.step for e in ledger.events() if e.step}
    # the interruption came after iteration 1's sandboxed steps
    assert {"iter-1/gates", "iter-1/scenarios"} <= done, sorted(done)
    assert _foreign(workspace) == []
    _git(workspace, "status", "--porcelain")
    # What a kill in the middle of a container (or assay before this fix) leaves: everything,
    # .git too, owned by the sandbox user. The resumed run takes it back before it runs git.
    _chown_all(workspace, SANDBOX_UID)
    with pytest.raises(AssertionError, match="dubious ownership"):
        _git(workspace, "status")

    resumed = _assay(tmp_path, "resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    with Ledger.open(run_dir, create=False) as ledger:
        finished = next(e.payload for e in ledger.events(kind="run.finished"))
        gates = [e.payload["report"] for e in ledger.events(kind="gate.result")]
        scores = [e.payload["score"] for e in ledger.events(kind="scenario.result")]
    assert finished["outcome"] == "converged", finished
    assert scores == [0.0, 100.0]
    pytest_runs = [r for report in gates for r in report["results"] if r["gate"] == "pytest"]
    assert [r["status"] for r in pytest_runs] == ["passed", "passed"], pytest_runs
    assert verify_run(run_dir).ok

    # host git works in the workspace as for any repository of this user
    assert "iteration 2: serve where, version 2" in _git(workspace, "log", "--format=%s")
    assert _git(workspace, "status", "--porcelain", "--untracked-files=no") == ""
    # the service ran as the non-root container user, in its own checkout of the commit (the
    # gates run on the workspace meanwhile), and wrote there; the file is the host user's
    holdout = run_dir / "holdout"
    served = holdout / "var" / "served" / "started.txt"
    assert served.read_text() == str(SANDBOX_UID)
    assert not (workspace / "var").exists()
    assert _foreign(workspace) == [] and _foreign(holdout) == []


# Runs as the container user: writes new files and folders, rewrites a lent one, marks a file
# set-uid, plants a symlink to a host path, and tries to change what host git would run.
INSIDE = """\
import os
from pathlib import Path

print(os.getuid(), os.getgid())
Path("new/deeper").mkdir(parents=True)
Path("new/deeper/file.txt").write_text("x")
Path("tracked.txt").write_text("changed by the sandbox")
Path("setuid").write_text("#!/bin/sh\\n")
os.chmod("setuid", 0o4755)
os.symlink("/etc/passwd", "to-passwd")
for target in (".git/config", ".git/hooks/pre-commit", ".git/new-file"):
    try:
        with open(target, "a") as fh:
            fh.write("[core]\\n\\tfsmonitor = touch /tmp/owned\\n")
        print("wrote", target)
    except OSError as exc:
        print("refused", target, exc.errno)
"""

SERVICE = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        Path("served").mkdir(exist_ok=True)
        Path("served" + self.path).write_text(str(os.getuid()))
        self.send_response(204)
        self.end_headers()


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


async def test_root_containers_borrow_the_workspace_and_give_it_back(
    root_and_docker: None, tmp_path: Path
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "tracked.txt").write_text("host\n")
    (workspace / "service.py").write_text(SERVICE)
    _git(workspace, "init", "-q")
    _git(workspace, "add", "-A")
    _git(workspace, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "host")
    config_before = (workspace / ".git" / "config").read_text()
    passwd = os.lstat("/etc/passwd")

    box = DockerSandbox(workspace, limits=Limits(timeout_s=60))
    try:
        async with await box.serve(["python3", "service.py"]) as service:
            await service.wait_ready("/ready", timeout=30)
            # a command while the service runs: the service keeps its workspace afterwards
            result = await box.run(["python3", "-c", INSIDE])
            with service.client() as client:
                assert client.get("/after-the-command").status_code == 204
    finally:
        box.close()

    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[0] == f"{SANDBOX_UID} {SANDBOX_UID}"
    tried = [".git/config", ".git/hooks/pre-commit", ".git/new-file"]
    assert [line.split()[:2] for line in lines[1:]] == [["refused", t] for t in tried]
    assert lines[-1].split()[2] == str(errno.EROFS)  # not only root's: a read-only mount
    assert (workspace / ".git" / "config").read_text() == config_before
    assert (workspace / "served" / "after-the-command").read_text() == str(SANDBOX_UID)
    assert (workspace / "new" / "deeper" / "file.txt").read_text() == "x"
    # everything is the host user's again, nothing is set-uid, the host file was not touched
    assert _foreign(workspace) == []
    assert not os.lstat(workspace / "setuid").st_mode & 0o6000
    assert os.readlink(workspace / "to-passwd") == "/etc/passwd"
    after = os.lstat("/etc/passwd")
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        passwd.st_uid,
        passwd.st_gid,
        passwd.st_mode,
    )
    assert _git(workspace, "status", "--porcelain").splitlines()[0] == " M tracked.txt"


# A process that serves from the workspace and is then killed with its container running.
HOLDER = """\
import asyncio, sys, time
from pathlib import Path
from assay.sandbox.docker import DockerSandbox


async def main():
    box = DockerSandbox(Path(sys.argv[1]))
    service = await box.serve(["python3", "service.py"])
    await service.wait_ready("/while-held", timeout=60)
    print("serving", flush=True)
    time.sleep(600)


asyncio.run(main())
"""


def test_a_killed_holder_leaves_nothing_behind(root_and_docker: None, tmp_path: Path) -> None:
    """kill -9 while a service container runs: the next sandbox on the folder removes the orphan
    container (it would go on writing the workspace) and takes the workspace back."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "service.py").write_text(SERVICE)
    _git(workspace, "init", "-q")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(workspace)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "DOCKER_HOST": os.environ.get("DOCKER_HOST", "unix:///run/podman/podman.sock")},
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "serving"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    assert os.lstat(workspace).st_uid == SANDBOX_UID  # still lent: nobody gave it back
    assert (workspace / "served" / "while-held").exists()
    client = docker_client()
    label = {"label": f"assay.workspace={workspace.resolve()}"}
    try:
        assert len(client.containers.list(all=True, filters=label)) == 1
        DockerSandbox(workspace).close()
        assert client.containers.list(all=True, filters=label) == []
    finally:
        for leftover in client.containers.list(all=True, filters=label):
            leftover.remove(force=True)
        client.close()
    assert _foreign(workspace) == []
    _git(workspace, "status", "--porcelain")

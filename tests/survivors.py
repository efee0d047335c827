"""Finding the processes a command left behind, for the tests that signal a real `assay`.

Every process a command starts (a tool, its subprocesses, a service) is found by a token the
test puts in the command's environment or argv: /proc is scanned for it, as ``ps`` would show it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["alive", "assay", "containers", "marked", "signal_and_wait", "wait_until"]

LIMIT_S = 180.0
"""How long a bounded wait may poll: generous, only ever reached when something is wrong."""


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # gone, or a zombie's environ
        return b""


def _state(pid: int) -> str:
    stat = _read(Path(f"/proc/{pid}/stat")).decode(errors="replace")
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped, does not count)."""
    return _state(pid) not in ("", "Z", "X")


def marked(token: str) -> dict[int, str]:
    """pid -> command line of every live process with `token` in its environment or argv."""
    found: dict[int, str] = {}
    needle = token.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        argv = _read(entry / "cmdline")
        if (needle in argv or needle in _read(entry / "environ")) and alive(int(entry.name)):
            found[int(entry.name)] = argv.replace(b"\0", b" ").decode(errors="replace")
    return found


def wait_until(
    condition: Callable[[], object],
    what: str,
    limit: float = LIMIT_S,
    *,
    running: subprocess.Popen[str] | None = None,
) -> None:
    """Poll `condition` until it holds; fail naming `what` after `limit` seconds, or as soon as
    the `running` command has exited (with its output)."""
    deadline = time.monotonic() + limit
    while not condition():
        if running is not None and running.poll() is not None:
            out, err = running.communicate()
            raise AssertionError(f"exited {running.returncode} before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def assay(args: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.Popen[str]:
    """A real `assay` command in a subprocess (default signal dispositions, so SIGINT counts)."""
    return subprocess.Popen(
        [sys.executable, "-m", "assay.cli", *args],
        cwd=cwd, env={**os.environ, **env}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def signal_and_wait(
    proc: subprocess.Popen[str], sig: signal.Signals, token: str
) -> tuple[int, str, dict[int, str]]:
    """Send `sig` to `proc`, wait for it to exit, and return its exit code, its stderr and what
    still runs with `token` once the killed processes have had time to vanish."""
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=LIMIT_S)
    # A SIGKILLed process leaves /proc a moment after kill() returns; a survivor never does.
    deadline = time.monotonic() + 10
    while marked(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc.returncode, err, marked(token)


def containers(workspace: Path) -> list[str]:
    """Ids of the sandbox containers (running or not) on `workspace`; none without an engine."""
    try:
        from assay.sandbox.base import SandboxUnavailable
        from assay.sandbox.docker import docker_client
    except ImportError:  # no docker SDK: no container either
        return []
    try:
        client = docker_client()
    except SandboxUnavailable:
        return []
    try:
        label = f"assay.workspace={workspace.resolve()}"
        return [c.id for c in client.containers.list(all=True, filters={"label": label})]
    finally:
        client.close()

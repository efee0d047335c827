"""The attack suite: every attack must be contained by every isolating backend.

Each attack is a small program in ``attacks/`` run inside the sandbox; the host then checks
from outside that nothing escaped. Results are tallied per backend and printed at session end.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from assay.changeset import ChangesetRejected, apply_changeset
from assay.errors import UserError
from assay.messages import Changeset, FileChange
from assay.sandbox import KilledReason, Limits, Sandbox

from .conftest import ATTACK_LIMITS, TALLY

pytestmark = pytest.mark.sandbox


def record(sandbox: Sandbox, attack: str, contained: bool) -> None:
    """Tally the attack, then fail the test if it was not contained."""
    TALLY[sandbox.name][attack] = contained
    assert contained, f"{attack} was NOT contained by {sandbox.name}"


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (sandboxed processes are visible here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


async def test_read_file_outside_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    home = tmp_path / "home"
    home.mkdir()
    (home / ".secret").write_text(canary)
    paths = [str(home / ".secret"), str(home), "/work", str(Path.cwd())]
    result = await sandbox.run(["python3", "read_outside.py", *paths])
    assert result.exit_code == 0, result.stderr
    record(
        sandbox,
        "read outside workspace",
        canary not in result.stdout and "listed" not in result.stdout,
    )


async def test_read_host_api_key(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = f"sk-ant-canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)  # and it is on the sandbox's allow-list
    result = await sandbox.run(["python3", "read_secrets.py"])
    assert result.exit_code == 0, result.stderr
    assert "env:" in result.stdout
    record(sandbox, "read host API key", canary not in result.stdout + result.stderr)


async def test_tcp_to_host_loopback(sandbox: Sandbox) -> None:
    accepted: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(conn.recv(64))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        result = await sandbox.run(["python3", "tcp_host.py", str(port)])
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.exit_code == 0, result.stderr
    record(sandbox, "tcp to host loopback", not accepted and "ESCAPED" not in result.stdout)


async def test_dns_resolution(sandbox: Sandbox) -> None:
    result = await sandbox.run(["python3", "dns.py"])
    assert result.exit_code == 0, result.stderr
    assert "refused" in result.stdout
    record(sandbox, "resolve DNS", "ESCAPED" not in result.stdout)


async def test_write_outside_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # the attack: write to the host's /tmp from inside the sandbox
    targets = [outside / "pwned.txt", Path(f"/tmp/assay-escape-{uuid.uuid4().hex}")]  # nosec B108
    result = await sandbox.run(["python3", "write_outside.py", *map(str, targets)])
    assert result.exit_code == 0, result.stderr
    escaped = [
        p
        for p in [
            *targets,
            Path("/usr/assay-escape"),
            Path("/etc/assay-escape"),
            Path("/assay-escape"),
        ]
        if p.exists()
    ]
    record(sandbox, "write outside workspace", not escaped)


async def test_fork_bomb(sandbox: Sandbox) -> None:
    marker = f"bomb-{uuid.uuid4().hex}"
    result = await sandbox.run(["python3", "fork_bomb.py", marker])
    leftovers = host_processes_with(marker)
    assert "fork refused" in result.stdout or result.killed is not None, result
    record(
        sandbox,
        "fork bomb",
        "ESCAPED" not in result.stdout and not leftovers and result.duration_s < 30,
    )


async def test_memory_past_limit(sandbox: Sandbox) -> None:
    result = await sandbox.run(["python3", "memory_hog.py"])
    allocated = [line for line in result.stdout.splitlines() if line.startswith("allocated")]
    assert result.exit_code != 0
    record(
        sandbox,
        "memory past limit",
        "ESCAPED" not in result.stdout
        and len(allocated) * 64 <= ATTACK_LIMITS.memory_mb
        and (result.killed is KilledReason.MEMORY or "MemoryError" in result.stderr),
    )


async def test_spin_past_timeout(sandbox: Sandbox) -> None:
    started = time.monotonic()
    result = await sandbox.run(
        ["python3", "spin.py"], limits=ATTACK_LIMITS.model_copy(update={"timeout_s": 2})
    )
    elapsed = time.monotonic() - started
    assert result.killed is KilledReason.TIMEOUT
    record(sandbox, "spin past timeout", elapsed < 12 and not host_processes_with("spin.py"))


async def test_daemon_left_running(sandbox: Sandbox) -> None:
    marker = f"daemon-{uuid.uuid4().hex}"
    result = await sandbox.run(["python3", "daemon.py", marker])
    assert "parent done" in result.stdout, result
    deadline = time.monotonic() + 3
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    record(sandbox, "daemon left running", not host_processes_with(marker))


async def test_symlink_copy_out(sandbox: Sandbox, tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.txt"
    secret.write_text(canary)
    result = await sandbox.run(["python3", "plant_symlinks.py", str(secret)])
    assert result.stdout.strip() == "planted", result
    dest = tmp_path / "artifacts"
    refusals = 0
    for paths in (["loot.txt"], ["out"], ["root"], ["."], ["out/up"]):
        try:
            sandbox.copy_out(paths, dest)
        except UserError:
            refusals += 1
    leaked = [p for p in dest.rglob("*") if p.is_file() and canary in p.read_text(errors="replace")]
    record(sandbox, "symlink copy-out", refusals == 5 and not leaked)
    # A legitimate artifact still comes out.
    copied = sandbox.copy_out(["out/report.txt"], tmp_path / "ok")
    assert copied[0].read_text() == "a real artifact\n"


async def test_changeset_traversal(sandbox: Sandbox, tmp_path: Path) -> None:
    result = await sandbox.run(["python3", "plant_symlinks.py", str(tmp_path / "target")])
    assert result.ok, result
    hostile = [
        "../escape.txt",
        # an absolute path the changeset must refuse
        "/tmp/assay-abs-escape.txt",  # nosec B108
        "a/../../escape.txt",
        "root/tmp/via-symlink.txt",
        "out/up/escape.txt",
        "loot.txt",
        ".git/hooks/pre-commit",
    ]
    refusals = 0
    for path in hostile:
        try:
            apply_changeset(
                sandbox.workspace, Changeset(files=[FileChange(path=path, content="x")])
            )
        except ChangesetRejected:
            refusals += 1
    outside = [
        sandbox.workspace.parent / "escape.txt",
        # where the attacks would land
        Path("/tmp/assay-abs-escape.txt"),  # nosec B108
        Path("/tmp/via-symlink.txt"),  # nosec B108
        tmp_path / "target",
    ]
    record(
        sandbox,
        "changeset traversal",
        refusals == len(hostile) and not any(p.exists() for p in outside),
    )


async def test_limits_are_per_call(sandbox: Sandbox) -> None:
    """Not an attack: a tighter per-call output cap is honoured and flagged."""
    result = await sandbox.run(
        ["python3", "-c", "print('x' * 100_000)"], limits=Limits(output_bytes=2048, timeout_s=30)
    )
    assert result.ok and result.stdout_truncated
    kept = result.stdout.replace(_dropped_line(result.stdout), "")
    assert len(kept) == 2048  # the head and the tail, without the marker line


def _dropped_line(text: str) -> str:
    start = text.index("\n[... ")
    return text[start : text.index("...]\n", start) + 5]

"""The docker backend inside a sandbox session: one locked-down container, cleaned up however the
session ends (the attack suite also runs against it: the ``docker-session`` backend)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from assay.sandbox import Limits
from assay.sandbox.docker import DockerSandbox, docker_client
from assay.sandbox.session import sandbox_session

from .conftest import make_sandbox
from .test_sandbox_attacks import host_processes_with

pytestmark = pytest.mark.sandbox

LIMITS = Limits(timeout_s=30, memory_mb=192, pids=64, cpus=0.5)


def _box(workspace: Path) -> DockerSandbox:
    box = make_sandbox("docker", workspace, LIMITS)
    assert isinstance(box, DockerSandbox)
    return box


def _containers(workspace: Path) -> list[Any]:
    """Every container (running or not) assay made on `workspace`, as `podman ps -a` lists."""
    client = docker_client()
    try:
        label = f"assay.workspace={workspace.resolve()}"
        return list(client.containers.list(all=True, filters={"label": label}))
    finally:
        client.close()


async def test_commands_and_the_service_share_one_container_removed_at_the_end(
    workspace: Path,
) -> None:
    box = _box(workspace)
    try:
        before = len(_containers(workspace))
        async with sandbox_session():
            first = await box.run(["cat", "/proc/1/cmdline"])
            second = await box.run(["python3", "-c", "print(open('/etc/hostname').read())"])
            async with await box.serve(["python3", "ref_service.py"]) as service:
                await service.wait_ready("/", timeout=30)
                async with service.async_client(timeout=10) as client:
                    assert (await client.get("/")).json()["ok"] is True
                during = _containers(workspace)
            third = await box.run(["true"])
        after = len(_containers(workspace))
    finally:
        box.close()
    assert first.ok and second.ok and third.ok, (first, second, third)
    assert "init" in first.stdout  # pid 1 is the session's idle init, not the command
    assert len(during) == before + 1 and during[0].labels.get("assay.session") == "1"
    assert service.result is not None and service.result.exit_code != 0
    assert after == before == 0


async def test_the_session_container_is_locked_down_like_a_per_command_one(
    workspace: Path,
) -> None:
    box = _box(workspace)
    probe = ["sh", "-c", "id -u; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status"]
    try:
        alone = await box.run(probe)
        async with sandbox_session():
            shared = await box.run(probe)
            (container,) = _containers(workspace)
            host = container.attrs["HostConfig"]
    finally:
        box.close()
    assert alone.ok and shared.ok, (alone, shared)
    assert shared.stdout == alone.stdout
    assert "CapEff:\t0000000000000000" in shared.stdout and "NoNewPrivs:\t1" in shared.stdout
    assert shared.stdout.splitlines()[0] != "0"
    assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
    assert host["Memory"] == LIMITS.memory_mb * 2**20 and host["PidsLimit"] == LIMITS.pids
    assert host["NanoCpus"] == int(LIMITS.cpus * 1e9)
    assert "no-new-privileges" in " ".join(host["SecurityOpt"])


async def test_each_command_gets_its_own_scratch_folder_removed_after_it(workspace: Path) -> None:
    box = _box(workspace)
    write = (
        "import os, tempfile; d = tempfile.gettempdir(); "
        "open(os.path.join(d, 'left-here'), 'w').write('x'); print(d)"
    )
    look = "import os, tempfile; print(tempfile.gettempdir()); print(*sorted(os.listdir('/tmp')))"
    try:
        async with sandbox_session():
            wrote = await box.run(["python3", "-c", write])
            looked = await box.run(["python3", "-c", look])
    finally:
        box.close()
    assert wrote.ok and looked.ok, (wrote, looked)
    first = wrote.stdout.strip()
    second, listed = looked.stdout.splitlines()
    listing = listed.split()
    # the container's own /tmp, as its commands see it (no file on the host is made there)
    tmp = "/tmp/"  # nosec B108
    assert first.startswith(tmp + "assay-exec-") and second.startswith(tmp + "assay-exec-")
    assert first != second
    assert first.removeprefix(tmp) not in listing  # removed with what was left in it
    assert listing == [second.removeprefix(tmp)]


async def test_an_error_in_the_session_leaves_no_container(workspace: Path) -> None:
    box = _box(workspace)
    try:
        with pytest.raises(ZeroDivisionError):
            async with sandbox_session():
                assert (await box.run(["true"])).ok
                assert len(_containers(workspace)) == 1
                _ = 1 / 0
    finally:
        box.close()
    assert _containers(workspace) == []


async def test_a_cancelled_command_is_killed_and_its_container_removed(workspace: Path) -> None:
    box = _box(workspace)
    marker = f"sleeper-{uuid.uuid4().hex}"
    started = asyncio.Event()

    async def iteration() -> None:
        async with sandbox_session():
            assert (await box.run(["true"])).ok
            started.set()
            await box.run(["python3", "-c", "import time; time.sleep(60)", marker])

    try:
        task = asyncio.create_task(iteration())
        await started.wait()
        deadline = time.monotonic() + 20
        while not host_processes_with(marker) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert host_processes_with(marker)
        began = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        took = time.monotonic() - began
    finally:
        box.close()
    assert took < 15
    assert _containers(workspace) == []
    assert host_processes_with(marker) == []


async def test_a_command_past_its_deadline_has_its_whole_tree_killed(workspace: Path) -> None:
    box = _box(workspace)
    marker = f"tree-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys, time; "
        f"subprocess.Popen(['python3', '-c', 'import time; time.sleep(60)', '{marker}']); "
        "time.sleep(60)"
    )
    try:
        async with sandbox_session():
            result = await box.run(["python3", "-c", code], limits=LIMITS.model_copy(
                update={"timeout_s": 2}
            ))  # fmt: skip
            left = host_processes_with(marker)
            after = await box.run(["true"])  # the container outlives one command's timeout
    finally:
        box.close()
    assert str(result.killed) == "timeout" and result.duration_s < 12, result
    assert left == [] and after.ok


async def test_what_a_command_leaves_behind_is_gone_when_it_returns(workspace: Path) -> None:
    box = _box(workspace)
    marker = f"left-{uuid.uuid4().hex}"
    daemon = f"python3 -c 'import os, time; os.setsid(); time.sleep(60)' {marker} &"
    try:
        async with sandbox_session():
            result = await box.run(["sh", "-c", f"{daemon} echo started"])
            left = host_processes_with(marker)  # at once: no grace period
            missing = await box.run(["no-such-program"])
    finally:
        box.close()
    assert result.ok and result.stdout == "started\n", result
    assert left == []
    assert missing.exit_code == 127 and "no-such-program" in missing.stderr, missing

"""Sandbox overhead: start-to-exit of `python3 -c pass` and service start-to-healthy.

Measured in one run, bare (plain subprocess on the host) against bwrap and docker (whatever
Docker API answers: Podman here), medians of several runs, with the ratio to bare. Docker is
measured three ways: ``docker`` is one container per command (no session); in one long-lived
container, as a loop iteration does (`assay.sandbox.session`), ``docker-session`` runs each
command over the container's command server (one exec per session), ``docker-session-exec``
by the exec API (an exec per command). The sessions' one-off container start is printed apart.

    .venv/bin/python benchmarks/sandbox_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from assay.sandbox import BASE_ENV, Limits, Sandbox
from assay.sandbox.bwrap import BwrapSandbox, bwrap_problem
from assay.sandbox.docker import DEFAULT_IMAGE, DockerSandbox, docker_problem
from assay.sandbox.session import sandbox_session

SERVICE = Path(__file__).resolve().parents[1] / "tests" / "sandbox" / "programs" / "ref_service.py"
LIMITS = Limits(timeout_s=120, memory_mb=256, pids=64)
# The interpreter the sandboxes find on their PATH, so bare runs the same one (not a pyenv shim).
PYTHON = shutil.which("python3", path=BASE_ENV["PATH"]) or "python3"


def bare_pass() -> float:
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], check=True)
    return time.perf_counter() - started


def bare_service(workspace: Path) -> float:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    proc = subprocess.Popen(
        [PYTHON, "ref_service.py"], cwd=workspace, env={**BASE_ENV, "PORT": str(port)}
    )
    try:
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    client.get(f"http://127.0.0.1:{port}/")
                    return time.perf_counter() - started
                except httpx.TransportError:
                    time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()


async def sandbox_pass(sandbox: Sandbox) -> float:
    started = time.perf_counter()
    result = await sandbox.run(["python3", "-c", "pass"])
    assert result.ok, result
    return time.perf_counter() - started


async def sandbox_service(sandbox: Sandbox) -> float:
    started = time.perf_counter()
    async with await sandbox.serve(["python3", "ref_service.py"]) as service:
        await service.wait_ready("/", timeout=60)
        return time.perf_counter() - started


async def in_session(sandbox: Sandbox, runs: int) -> tuple[float, list[float], list[float]]:
    """In one session: the first command (it starts the container), then `runs` commands and
    `runs` services, each timed."""
    async with sandbox_session():
        first = await sandbox_pass(sandbox)
        passes = [await sandbox_pass(sandbox) for _ in range(runs)]
        services = [await sandbox_service(sandbox) for _ in range(runs)]
    return first, passes, services


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    workspace = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    shutil.copy(SERVICE, workspace / "ref_service.py")
    boxes: dict[str, Sandbox] = {}
    if (problem := bwrap_problem()) is None:
        boxes["bwrap"] = BwrapSandbox(workspace, limits=LIMITS)
    else:
        print(f"bwrap skipped: {problem}")
    if (problem := docker_problem(DEFAULT_IMAGE)) is None:
        boxes["docker"] = DockerSandbox(workspace, limits=LIMITS)
    else:
        print(f"docker skipped: {problem}")

    table: dict[str, dict[str, float]] = {"python -c pass": {}, "service start-to-healthy": {}}
    table["python -c pass"]["bare"] = statistics.median(bare_pass() for _ in range(runs))
    table["service start-to-healthy"]["bare"] = statistics.median(
        bare_service(workspace) for _ in range(runs)
    )
    for name, box in boxes.items():
        table["python -c pass"][name] = statistics.median(
            asyncio.run(sandbox_pass(box)) for _ in range(runs)
        )
        table["service start-to-healthy"][name] = statistics.median(
            asyncio.run(sandbox_service(box)) for _ in range(runs)
        )
        if isinstance(box, DockerSandbox):
            table["session container start"] = {"bare": table["python -c pass"]["bare"]}
            for label, channel in (("docker-session", True), ("docker-session-exec", False)):
                box.command_channel = channel
                first, passes, services = asyncio.run(in_session(box, runs))
                table["python -c pass"][label] = statistics.median(passes)
                table["service start-to-healthy"][label] = statistics.median(services)
                table["session container start"][label] = first
        box.close()
    shutil.rmtree(workspace, ignore_errors=True)

    print(f"medians of {runs} runs")
    print(f"{'measure':<26}{'backend':<21}{'median ms':>11}{'x bare':>9}")
    for measure, row in table.items():
        for name, seconds in row.items():
            print(f"{measure:<26}{name:<21}{seconds * 1000:>11.1f}{seconds / row['bare']:>9.2f}")
    per_command = table["python -c pass"]
    if "docker-session" in per_command:
        bare = per_command["bare"]
        print("docker per-command overhead over bare (median ms, x bare):")
        for label, how in (
            ("docker", "a container per command"),
            ("docker-session-exec", "an exec per command in one container"),
            ("docker-session", "the command server in one container"),
        ):
            seconds = per_command[label]
            print(
                f"  {how:<40}{(seconds - bare) * 1000:>8.1f} ms over bare"
                f"{seconds / bare:>8.1f}x bare"
            )


if __name__ == "__main__":
    main()

"""Issue 15, point 2: per-file tools fill the cores, and the result is that of one run.

The runner splits a per-file gate's files into batches run side by side (bandit, detect-secrets),
lends a tool with workers of its own the free worker slots (semgrep), serves the longest job
first and never runs more tool processes than its ``jobs``. The findings come back in file order:
the same findings, in the same order, with the same SARIF, as the older schedule's single run
over every file. The real bandit, semgrep and detect-secrets run here.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assay.config import Settings
from assay.gates._tool import tool_version
from assay.gates.bandit import BanditGate
from assay.gates.base import Finding, GateContext, GateReport, GateStatus, Scan
from assay.gates.output import sarif_document
from assay.gates.runner import GateRunner
from assay.gates.secrets import SecretsGate
from assay.gates.semgrep import SemgrepGate
from assay.gates.workers import Workers, batches

JOBS = 2  # the batched schedule splits each per-file gate's files in two

# Each module holds something every gate reports: a shell command (bandit B602, semgrep),
# pickle (B301, semgrep), an AWS key (detect-secrets, bandit's hard-coded password checks).
MODULE = '''"""Module {n}."""
import pickle
import subprocess

TOKEN = "AKIA{key}"


def run_{n}(cmd: str) -> None:
    subprocess.call(cmd, shell=True)


def load_{n}(blob: bytes) -> object:
    return pickle.loads(blob)
'''
BROKEN = "def broken(:\n    pass\n"  # bandit cannot parse it: a finding, never a silent pass


def _project(root: Path, modules: int = 20) -> Path:
    pkg = root / "pkg"
    pkg.mkdir(parents=True)
    (root / ".git").mkdir()
    for n in range(modules):
        # sizes differ, so the batches are not simply the first and second half
        padding = "\n".join(f"VALUE_{n}_{i} = {i}" for i in range(n * 7))
        key = f"{n:02d}IOSFODNN7EXAMPL"[:16].upper()
        (pkg / f"mod_{n:02d}.py").write_text(MODULE.format(n=n, key=key) + padding + "\n")
    (pkg / "mod_07_broken.py").write_text(BROKEN)
    (root / "notes.ini").write_text(
        "[aws]\nsecret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    return root


def _gates() -> list[Any]:
    return [BanditGate(), SemgrepGate(), SecretsGate()]


def _shape(report: GateReport) -> list[tuple[str, GateStatus, str, list[dict[str, Any]]]]:
    return [
        (r.gate, r.status, r.message, [f.model_dump() for f in r.findings]) for r in report.results
    ]


def test_batched_run_reports_what_one_run_reports(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = _project(tmp_path / "proj")
    one = gl.run(root, _gates(), jobs=JOBS, batch=False, cache_dir=None)
    batched = gl.run(root, _gates(), jobs=JOBS, batch=True, cache_dir=None)

    assert _shape(batched) == _shape(one)
    assert sarif_document(batched) == sarif_document(one)
    by_gate = {r.gate: r for r in batched.results}
    assert {g: r.status for g, r in by_gate.items()} == dict.fromkeys(
        ("bandit", "semgrep", "secrets"), GateStatus.FAILED
    )
    # every file's findings, in file order, each gate's finding seen in all 20 modules
    bandit = by_gate["bandit"].findings
    assert [f.file for f in bandit] == sorted(f.file for f in bandit)
    assert {f.file for f in bandit if f.rule_id == "B602"} == {
        f"pkg/mod_{n:02d}.py" for n in range(20)
    }
    broken = [f for f in bandit if f.file == "pkg/mod_07_broken.py"]
    assert [f.rule_id for f in broken] == ["parse-error"]
    secrets = by_gate["secrets"].findings
    assert "notes.ini" in {f.file for f in secrets}
    semgrep = by_gate["semgrep"].findings
    assert len({f.file for f in semgrep}) == 20
    # bandit and detect-secrets ran in two batches, each with its own report
    for gate in ("bandit", "secrets"):
        report = Path(str(by_gate[gate].raw_report))
        assert sorted(p.name for p in report.iterdir() if p.is_dir()) == ["batch-1", "batch-2"]
    assert by_gate["semgrep"].raw_report == str(root / ".assay/reports/semgrep/semgrep.json")


def test_batched_run_caches_each_file_under_its_digest(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = _project(tmp_path / "proj")
    first = gl.run(root, _gates(), jobs=JOBS)
    assert {r.gate: r.files_scanned for r in first.results} == {
        "secrets": 22,  # every file but .git's
        "bandit": 21,
        "semgrep": 21,
    }

    again = gl.run(root, _gates(), jobs=JOBS)
    assert [(r.cached, r.files_scanned) for r in again.results] == [(True, 0)] * 3
    assert _shape(again) == _shape(first)

    changed = root / "pkg" / "mod_03.py"
    changed.write_text(changed.read_text().replace("shell=True", "shell=False"))
    after = gl.run(root, _gates(), jobs=JOBS)
    assert [(r.cached, r.files_scanned) for r in after.results] == [(False, 1)] * 3
    fresh = gl.run(root, _gates(), jobs=JOBS, batch=False, cache_dir=None)
    assert _shape(after) == _shape(fresh)
    bandit = next(r for r in after.results if r.gate == "bandit")
    assert "pkg/mod_03.py" not in {f.file for f in bandit.findings if f.rule_id == "B602"}


class _Meter:
    """How many scans run at once, across gates."""

    running = 0
    most = 0


class _Recorder:
    """A per-file gate with no tool of its own: it records each batch it is given and how many
    of its scans run at once, and fails any batch holding a file named ``fails.py``."""

    name = "recorder"
    tool = "recorder"
    cost = 1
    per_file = True
    default_fail_on = "low"

    def __init__(self, meter: _Meter | None = None) -> None:
        self.batches: list[list[str]] = []
        self.workers: list[int] = []
        self.meter = meter or _Meter()

    def applies(self, ctx: GateContext) -> bool:
        return bool(ctx.files)

    def version(self) -> str:
        return "1"

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        return ctx.files

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        self.batches.append(list(files))
        self.workers.append(ctx.workers)
        self.meter.running += 1
        self.meter.most = max(self.meter.most, self.meter.running)
        await asyncio.sleep(0.05)
        self.meter.running -= 1
        if any(f.endswith("fails.py") for f in files):
            return Scan(error="recorder exited 2: cannot read fails.py")
        findings = [
            Finding(gate="recorder", rule_id="R1", severity="low", file=f, line=1, message="x")
            for f in files
        ]
        return Scan(findings=findings)


def _files(root: Path, names: Sequence[str]) -> Path:
    root.mkdir(parents=True)
    for name in names:
        (root / name).write_text(f"X = {name!r}\n" * (1 + len(name)))
    return root


def test_batches_never_exceed_jobs_and_come_back_in_file_order(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    names = [f"m{n:02d}.py" for n in range(40)]
    root = _files(tmp_path / "proj", names)
    meter = _Meter()
    gates = [_Recorder(meter), _Recorder(meter)]
    gates[1].name = "recorder2"
    report = gl.run(root, gates, jobs=3, cache_dir=None)

    for gate, result in zip(gates, report.results, strict=True):
        assert len(gate.batches) == 3
        assert sorted(f for b in gate.batches for f in b) == names
        assert all(b == sorted(b) for b in gate.batches)
        assert gate.workers == [1, 1, 1]
        assert [f.file for f in result.findings] == names
    assert 1 < meter.most <= 3  # six batches side by side, never more than three at once

    single = _Recorder()
    gl.run(root, [single], jobs=3, cache_dir=None, batch=False)
    assert single.batches == [names] and single.workers == [0]


def test_a_failed_batch_is_reported_as_one_failed_run(tmp_path: Path, gl: SimpleNamespace) -> None:
    names = [f"m{n:02d}.py" for n in range(30)] + ["fails.py"]
    root = _files(tmp_path / "proj", names)
    batched = gl.run(root, [_Recorder()], jobs=JOBS).results[0]
    one = gl.run(root, [_Recorder()], jobs=JOBS, batch=False, cache_dir=None).results[0]
    assert (batched.status, batched.message, batched.findings) == (
        one.status,
        one.message,
        one.findings,
    )
    assert batched.status is GateStatus.ERROR and batched.findings == []
    assert batched.message == "recorder exited 2: cannot read fails.py"
    # nothing of a failed run is cached: the next run scans every file again
    assert gl.run(root, [_Recorder()], jobs=JOBS).results[0].files_scanned == len(names)


def test_fail_fast_keeps_the_cheapest_first_schedule(tmp_path: Path, gl: SimpleNamespace) -> None:
    names = [f"m{n:02d}.py" for n in range(40)]
    root = _files(tmp_path / "proj", names)
    gate = _Recorder()
    gl.run(root, [gate], Settings(fail_fast=True), jobs=JOBS, cache_dir=None)
    assert gate.batches == [names]


def test_workers_serve_the_longest_job_first_and_lend_unclaimed_slots() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        workers = Workers(2)
        order: list[str] = []
        first = asyncio.Event()

        async def job(name: str, length: float) -> None:
            async with workers.hold(length):
                order.append(name)
                await first.wait()

        async with workers.hold(9.0), workers.hold(9.0):  # both slots busy
            tasks = [asyncio.create_task(job(n, t)) for n, t in [("a", 1), ("b", 3), ("c", 2)]]
            await asyncio.sleep(0)
        first.set()
        await asyncio.gather(*tasks)
        got: list[int] = []

        async def take(length: float, most: int) -> None:
            async with workers.hold(length, most=most) as held:
                got.append(held)
                await asyncio.sleep(0)

        async with workers.hold(1.0, most=2) as alone:  # nobody else waits: both slots
            waiting = [asyncio.create_task(take(5.0, 2)), asyncio.create_task(take(1.0, 1))]
            await asyncio.sleep(0)
        await asyncio.gather(*waiting)
        shared = got[0]  # the longer job wanted both; the other waiting job keeps one
        return order, alone, shared

    order, alone, shared = asyncio.run(scenario())
    assert order[:3] == ["b", "c", "a"]
    assert alone == 2
    assert shared == 1


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_batches_balance_the_weight_and_keep_file_order(parts: int) -> None:
    files = ["a", "b", "c", "d", "e", "f"]
    weight = {"a": 10, "b": 1, "c": 1, "d": 8, "e": 1, "f": 1}
    groups = batches(files, weight, parts)
    assert len(groups) == parts
    assert sorted(f for g in groups for f in g) == files
    assert all(g == sorted(g) for g in groups)
    loads = [sum(weight[f] for f in g) for g in groups]
    assert loads == sorted(loads, reverse=True)
    assert max(loads) <= {1: 22, 2: 11, 3: 10}[parts]


class _Blocker(_Recorder):
    """A long scan that holds the only worker slot until another gate has been asked for its
    version (or, should that never happen, until a generous timeout: the test then fails)."""

    name = "blocker"
    cost = 9

    def __init__(self, scanning: threading.Event, asked: threading.Event) -> None:
        super().__init__()
        self.scanning, self.asked = scanning, asked
        self.saw_version: list[bool] = []

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        self.scanning.set()
        self.saw_version.append(await asyncio.to_thread(self.asked.wait, 30))
        return await super().scan(ctx, files)


class _Asked(_Recorder):
    """A cheap gate whose version is known once the blocker's scan holds the slot."""

    name = "asked"

    def __init__(self, scanning: threading.Event, asked: threading.Event) -> None:
        super().__init__()
        self.scanning, self.asked = scanning, asked
        self.saw_scan: list[bool] = []

    def version(self) -> str:
        self.saw_scan.append(self.scanning.wait(30))
        self.asked.set()
        return "1"


def test_a_version_query_waits_for_no_worker_slot(tmp_path: Path, gl: SimpleNamespace) -> None:
    """A gate's version (read before any of its scans is queued) is asked for while another
    gate's scan holds every slot: its scans are queued from the start, not once that one ends
    (a version query holding a slot could wait behind every longer scan)."""
    root = _files(tmp_path / "proj", [f"m{n:02d}.py" for n in range(4)])
    scanning, asked = threading.Event(), threading.Event()
    blocker, cheap = _Blocker(scanning, asked), _Asked(scanning, asked)
    report = gl.run(root, [blocker, cheap], jobs=1, cache_dir=None)
    assert cheap.saw_scan == [True]  # asked while the blocker's scan held the only slot
    assert blocker.saw_version == [True]
    assert [r.status for r in report.results] == [GateStatus.FAILED] * 2  # its findings, "low"


def test_a_tools_version_comes_from_the_distribution_beside_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No start-up of the tool for its version when it is installed with the interpreter; one
    found elsewhere (on PATH) is asked."""
    assert tool_version("bandit", distribution="bandit") == importlib.metadata.version("bandit")
    assert SecretsGate().version() == importlib.metadata.version("detect-secrets")
    elsewhere = tmp_path / "bin" / "assay-test-tool"
    elsewhere.parent.mkdir()
    elsewhere.write_text('#!/bin/sh\necho "assay-test-tool 9.8.7"\n')
    elsewhere.chmod(0o755)
    monkeypatch.setenv("PATH", f"{elsewhere.parent}{os.pathsep}{os.environ['PATH']}")
    assert tool_version("assay-test-tool", distribution="bandit") == "9.8.7"


def test_run_sync_hands_back_the_report(tmp_path: Path) -> None:
    names = [f"m{n:02d}.py" for n in range(3)]
    root = _files(tmp_path / "proj", names)
    gates: list[Any] = [_Recorder()]
    report = GateRunner(root, Settings(), gates, jobs=1).run_sync()
    assert [f.file for f in report.results[0].findings] == names

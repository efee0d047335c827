"""kill -9 a real `assay run` subprocess at random points, resume until done, compare with an
uninterrupted run: same steps in the same order, same final workspace tree, ledger verifies, and
no model was called for a step after that step had completed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from assay.ledger import Ledger, verify_run
from tests.redone import late_model_calls

HERE = Path(__file__).parent
SPEC = "---\nname: greeter\n---\n# Greeter\n\nA library that greets people.\n"
CONFIG = '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n'


def _env(tmp: Path, delay: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        ASSAY_TESTING_MODELS="scripted_app:models",
        PYTHONPATH=str(HERE),
        SCRIPTED_DELAY=delay,
        XDG_CONFIG_HOME=str(tmp / "config"),
        HOME=str(tmp / "home"),
    )
    return env


def _project(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "assay.toml").write_text(CONFIG)
    (tmp / ".git").mkdir(exist_ok=True)  # stop config lookup here
    spec = tmp / "spec.md"
    spec.write_text(SPEC)
    return spec


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "assay.cli", *args, "--no-live"]


def _run_dir(runs: Path) -> Path | None:
    found = sorted(runs.glob("*/ledger.sqlite")) if runs.exists() else []
    return found[0].parent if found else None


def _count_steps(run_dir: Path) -> int:
    """Completed steps, read without taking part in the run (read-only SQLite)."""
    uri = f"file:{run_dir / 'ledger.sqlite'}?mode=ro"
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=5)) as db:
            return int(
                db.execute("SELECT count(*) FROM events WHERE step IS NOT NULL").fetchone()[0]
            )
    except sqlite3.Error:
        return 0


def _summary(run_dir: Path) -> dict[str, Any]:
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    steps = [e.step for e in events if e.step]
    late_calls = late_model_calls(events)
    finished = next(e.payload for e in events if e.kind == "run.finished")
    ws = run_dir / "workspace"
    tree = subprocess.run(
        ["git", "rev-parse", "HEAD^{tree}"], cwd=ws, capture_output=True, text=True, check=True
    ).stdout.strip()
    commits = subprocess.run(
        ["git", "rev-list", "--count", "HEAD"], cwd=ws, capture_output=True, text=True, check=True
    ).stdout.strip()
    return {"steps": steps, "late": late_calls, "finished": finished, "tree": tree,
            "commits": int(commits)}  # fmt: skip


def _reference(tmp: Path) -> dict[str, Any]:
    """The summary of an uninterrupted run."""
    spec = _project(tmp)
    done = subprocess.run(
        _cmd("run", str(spec), "--runs-dir", str(tmp / "runs")), cwd=tmp,
        env=_env(tmp, "0"), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return _summary(_run_dir(tmp / "runs") or tmp)


def _start(work: Path, spec: Path, runs: Path) -> tuple[subprocess.Popen[str], Path | None]:
    """`assay run`, or `assay resume` once a run folder exists; and that folder."""
    run_dir = _run_dir(runs)
    args = ("resume", str(run_dir)) if run_dir else ("run", str(spec), "--runs-dir", str(runs))
    proc = subprocess.Popen(
        _cmd(*args), cwd=work, env=_env(work, "0.2"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return proc, run_dir


def _kill_after(proc: subprocess.Popen[str], runs: Path, goal: int, rng: random.Random) -> bool:
    """Once the ledger holds `goal` completed steps, wait a random moment and kill -9 `proc`.

    False when the process finished (or the deadline passed) before the kill.
    """
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        found = _run_dir(runs)
        if found and _count_steps(found) >= goal:
            time.sleep(rng.uniform(0.0, 0.3))
            break
        time.sleep(0.05)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return killed


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 11, 23])  # 3 runs x 4 kills at seeded random points
def test_kill_nine_and_resume(tmp_path: Path, seed: int) -> None:
    expected = _reference(tmp_path / "ref")
    assert expected["finished"]["outcome"] == "converged"

    work = tmp_path / "crash"
    spec = _project(work)
    runs = work / "runs"
    rng = random.Random(seed)
    total = len(expected["steps"])
    # kill once the ledger holds a random number of completed steps, then a random moment later
    # (so the kill lands inside the next step: a model call, a gate run, a commit...)
    kills, seen = 0, []
    for target in sorted(rng.sample(range(2, total - 4), 4)):  # room to land before the end
        proc, run_dir = _start(work, spec, runs)
        at_start = _count_steps(run_dir) if run_dir else 0
        # always let the resumed run make some progress
        kills += _kill_after(proc, runs, max(target, at_start + 1), rng)
        found = _run_dir(runs)
        seen.append(_count_steps(found) if found else 0)
    proc, _ = _start(work, spec, runs)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    print(f"kill -9 landed after {seen} completed steps (of {total})")
    assert kills >= 3, f"the kills mostly missed: {seen}"
    assert len(set(seen)) >= 3, f"kills landed at too few points: {seen}"
    run_dir = _run_dir(runs)
    assert run_dir is not None
    got = _summary(run_dir)
    assert got["steps"] == expected["steps"]
    assert got["tree"] == expected["tree"]
    assert got["commits"] == expected["commits"]
    assert got["late"] == []
    assert got["finished"]["outcome"] == "converged"
    verification = verify_run(run_dir)
    assert verification.ok, verification


def test_a_run_killed_mid_way_still_has_evidence(tmp_path: Path) -> None:
    """Issue 12, point 13: after a crash `assay report` refused ("the ledger was never sealed")
    and `assay runs` showed 0 iterations and 0 tokens. Now the report seals what verified and
    says "incomplete"; the bundle verifies up to the last event."""
    spec = _project(tmp_path)
    runs = tmp_path / "runs"
    proc, _ = _start(tmp_path, spec, runs)
    assert _kill_after(proc, runs, 6, random.Random(1)), "the run finished before the kill"
    run_dir = _run_dir(runs)
    assert run_dir is not None
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    assert not any(e.kind == "run.finished" for e in events)
    calls = sum(1 for e in events if e.kind == "model.response")
    assert calls > 0
    env = _env(tmp_path, "0")
    listed = subprocess.run(
        _cmd("runs", "--runs-dir", str(runs), "--json")[:-1], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (row,) = json.loads(listed.stdout)
    assert row["status"] == "unfinished" and row["tokens"] > 0
    bundle = tmp_path / "bundle"
    report = subprocess.run(
        _cmd("report", str(run_dir), "--out", str(bundle))[:-1], cwd=tmp_path, env=env,
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "incomplete run: events the run never sealed are now covered by checkpoint" in (
        report.stdout
    )
    summary = json.loads((bundle / "report.json").read_text())
    assert summary["outcome"] == "unfinished" and summary["releasable"] is False
    assert summary["sealed_by_report"] == [len(events) + 1]
    assert "incomplete" in (bundle / "report.html").read_text()
    for target in (bundle, run_dir):
        verified = subprocess.run(
            _cmd("verify", str(target))[:-1], cwd=tmp_path, env=env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr

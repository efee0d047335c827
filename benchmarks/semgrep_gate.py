"""Benchmark: the semgrep gate against semgrep run by hand with the same rule pack.

Prints the median wall time of
  (a) `semgrep scan --config <bundled rules> <project>` as a person would type it (offline flags
      only, everything else semgrep's defaults),
  (b) the semgrep gate cold (its own flags, no cache),
  (c) the gate again after one file changed (per-file cache: one file rescanned),
and the ratios (b)/(a) and (c)/(a). The codebase is the pinned sdist `gate_pipeline.py` fetches.

Usage: python benchmarks/semgrep_gate.py [--runs N] [--package rich==14.0.0]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate_pipeline import ENV, RULES, fetch

from assay.config import Settings
from assay.gates.runner import run_gates
from assay.gates.semgrep import SemgrepGate

SEMGREP = str(Path(sys.executable).parent / "semgrep")


def by_hand(project: Path) -> int:
    """semgrep with the pack, defaults otherwise; returns the number of results."""
    proc = subprocess.run(
        [SEMGREP, "scan", "--json", "--quiet", "--metrics=off", "--disable-version-check",
         "--config", str(RULES), "."],
        cwd=project, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return proc.stdout.count('"check_id"')


def gate(project: Path, cache: Path | None) -> int:
    """The gate through the runner; returns the number of findings."""
    report = asyncio.run(run_gates(project, Settings(), [SemgrepGate()], cache_dir=cache))
    (result,) = report.results
    assert result.status.value in ("passed", "failed"), result.message
    return len(result.findings)


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    count = fn()
    return time.perf_counter() - started, count


def main() -> None:
    """Run each side `--runs` times, alternating, and print the medians and ratios."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--package", default="rich==14.0.0")
    args = parser.parse_args()
    source = fetch(args.package)
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(source, project)
        files = sorted(project.rglob("*.py"))
        print(f"{args.package}: {len(files)} Python files")
        hand, cold, one = [], [], []
        for i in range(args.runs):
            t, n_hand = timed(lambda: by_hand(project))
            hand.append(t)
            cache = Path(tmp) / f"cache-{i}"
            t, n_gate = timed(lambda: gate(project, cache))  # noqa: B023
            cold.append(t)
            files[i % len(files)].write_text(files[i % len(files)].read_text() + "\n# touched\n")
            t, _ = timed(lambda: gate(project, cache))  # noqa: B023
            one.append(t)
            print(f"run {i + 1}: by hand {hand[-1]:.1f}s, gate cold {cold[-1]:.1f}s, "
                  f"one file changed {one[-1]:.1f}s; findings {n_hand} / {n_gate}")  # fmt: skip
        a, b, c = (statistics.median(x) for x in (hand, cold, one))
        print(f"(a) semgrep by hand        median {a:6.1f}s")
        print(f"(b) gate cold              median {b:6.1f}s   (b)/(a) = {b / a:.2f}")
        print(f"(c) gate, one file changed median {c:6.1f}s   (c)/(a) = {c / a:.2f}")


if __name__ == "__main__":
    main()

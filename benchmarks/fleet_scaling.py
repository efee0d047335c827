"""Fleet scaling: runs per minute with 1, 2 and 4 `assay worker` processes, and the efficiency.

    python benchmarks/fleet_scaling.py [--runs 4] [--workers 1 2 4] [--repeat 1] [--delay 0.2]
        [--database postgresql://…]

Each measurement submits --runs runs of a small greeter spec with `assay fleet submit`, starts
the workers (real `assay worker` processes, each in its own folder, the runs folder shared), and
times from the first worker's start until `assay fleet status` shows every run finished. The
team is the factory tests' scripted one (tests/factory/scripted_app.py), sleeping --delay
seconds per model call, so the figure measures assay (DBOS queues, the loop, the gates: ruff and
bandit), not a model. No provider rate limit is set. Efficiency is rate(W) / (W x rate(1)): 1.0
is perfect scaling. Every figure is the median of --repeat measurements made in this run.

On a 2-core machine the gates compete for the cores, so more than two workers mostly shows
where the machine, not the fleet, is the limit; say so next to the figure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = "---\nname: {name}\n---\n# Greeter\n\nA library that greets people.\n"


def _env(base: Path, home: Path, delay: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        ASSAY_TESTING_MODELS="scripted_app:models",
        PYTHONPATH=str(ROOT / "tests" / "factory"),
        SCRIPTED_DELAY=str(delay),
        XDG_CONFIG_HOME=str(base / "config"),
        XDG_STATE_HOME=str(home / "state"),
        HOME=str(home),
    )
    return env


def _assay(*args: str) -> list[str]:
    return [sys.executable, "-m", "assay.cli", *args]


def measure(runs: int, workers: int, delay: float, database: str | None) -> float:
    """Seconds for `workers` workers to finish `runs` runs."""
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        base = Path(tmp)
        project = base / "project"
        project.mkdir()
        (project / ".git").mkdir()
        db = database or f"sqlite:///{base / 'fleet.sqlite'}"
        schema = f"bench_{uuid.uuid4().hex[:12]}" if database else "dbos"
        config = project / "assay.toml"
        config.write_text(
            '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n\n'
            f'[fleet]\ndatabase = "{db}"\nsystem_schema = "{schema}"\n'
        )
        cli_env = _env(base, base / "home-cli", delay)
        specs = []
        for i in range(runs):
            spec = project / f"spec{i}.md"
            spec.write_text(SPEC.format(name=f"greeter{i}"))
            specs.append(str(spec))
        submit = _assay("fleet", "submit", *specs, "--runs-dir", str(base / "runs"))
        subprocess.run(
            [*submit, "--config", str(config)], cwd=project, env=cli_env, check=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
        procs = []
        start = time.perf_counter()
        try:
            for w in range(workers):
                folder = base / f"w{w}"
                folder.mkdir()
                worker = _assay("worker", "--id", f"w{w}", "--config", str(config))
                quiet = subprocess.DEVNULL
                env = _env(base, folder, delay)
                procs.append(
                    subprocess.Popen(worker, cwd=folder, env=env, stdout=quiet, stderr=quiet)
                )
            while True:
                out = subprocess.run(
                    _assay("fleet", "status", "--json", "--config", str(config)), cwd=project,
                    env=cli_env, check=True, capture_output=True, text=True, timeout=300,
                )  # fmt: skip
                states = [r["state"] for r in json.loads(out.stdout)]
                if len(states) == runs and all(s != "queued" and s != "running" for s in states):
                    if set(states) != {"finished"}:
                        raise SystemExit(f"runs did not all finish: {states}")
                    return time.perf_counter() - start
                time.sleep(0.5)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--database", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    print(
        f"{args.runs} runs, scripted models sleeping {args.delay}s per call, {os.cpu_count()} cores"
    )
    rates: dict[int, float] = {}
    for workers in args.workers:
        seconds = statistics.median(
            measure(args.runs, workers, args.delay, args.database) for _ in range(args.repeat)
        )
        rates[workers] = args.runs / seconds * 60
        print(f"{workers} worker(s): {seconds:.1f}s, {rates[workers]:.2f} runs/min")
    one = rates.get(1)
    if one:
        for workers, rate in rates.items():
            speedup, efficiency = rate / one, rate / (workers * one)
            print(f"{workers} worker(s): {speedup:.2f}x one worker, efficiency {efficiency:.2f}")


if __name__ == "__main__":
    main()

"""CLI start-up: `assay --help`, `assay gate --help` and `assay -V` against `ruff --version`.

Each command is a fresh process, run several times in this one run; the medians are printed with
the ratio to `ruff --version` (a native binary: the floor for "a CLI that answers at once") and to
`python -c pass` (the floor for any Python CLI).

    .venv/bin/python benchmarks/cli_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    commands = {
        "ruff --version": [str(BIN / "ruff"), "--version"],
        "python -c pass": [sys.executable, "-c", "pass"],
        "assay -V": [str(BIN / "assay"), "-V"],
        "assay --help": [str(BIN / "assay"), "--help"],
        "assay gate --help": [str(BIN / "assay"), "gate", "--help"],
        "assay run --help": [str(BIN / "assay"), "run", "--help"],
    }
    for argv in commands.values():  # warm the page cache and .pyc files first
        timed(argv)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # interleaved, so a busy moment of the machine hits every command
        for name, argv in commands.items():
            samples[name].append(timed(argv))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ruff, bare = medians["ruff --version"], medians["python -c pass"]
    print(f"medians of {runs} runs each")
    print(f"{'command':<20} {'median':>9} {'/ ruff':>8} {'/ python':>9}")
    for name, value in medians.items():
        print(f"{name:<20} {value * 1000:>7.1f}ms {value / ruff:>8.1f} {value / bare:>9.1f}")


if __name__ == "__main__":
    main()

"""Scenario throughput and the share of steps decided without a model.

1. Steps per second running the compat kv-store scenarios against the reference kv-store,
   sequential (--parallel 1) against --parallel 4, medians of several runs, and their ratio.
   The ttl scenario sleeps 3 s by design (it waits for expiry), so the figures are also given
   without it, where the HTTP path dominates.
2. The share of all compat-corpus steps decided without a model (static: every sentence of the
   expectation is read by a rule, or an assert block covers the step).

Run: .venv/bin/python benchmarks/scenario_throughput.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

import pydantic_ai.models

from assay.scenarios.launch import start_service
from assay.scenarios.loader import load_dir
from assay.scenarios.model import Scenario
from assay.scenarios.runner import RunOptions, ScenarioRunner, step_checks

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
ROOT = Path(__file__).resolve().parents[1]
COMPAT = ROOT / "tests" / "compat" / "octopusgarden"
REFERENCE = ROOT / "tests" / "reference"


async def _steps_per_second(scenarios: list[Scenario], parallel: int) -> float:
    # a fresh service per run, so no run sees another's keys
    async with start_service(f"{sys.executable} kv_store.py", cwd=REFERENCE) as svc:
        report = await ScenarioRunner(RunOptions(target=svc.url, parallel=parallel)).run(scenarios)
    steps = sum(len(sc.setup) + len(sc.steps) for sc in report.scenarios)
    return steps / report.duration_s


def _measure(scenarios: list[Scenario], runs: int) -> tuple[float, float]:
    seq = [asyncio.run(_steps_per_second(scenarios, 1)) for _ in range(runs)]
    par = [asyncio.run(_steps_per_second(scenarios, 4)) for _ in range(runs)]
    return statistics.median(seq), statistics.median(par)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    kv = load_dir(COMPAT / "kv-store" / "scenarios").scenarios
    for label, chosen in (
        ("all 7 scenarios", kv),
        ("without ttl", [s for s in kv if s.id != "ttl"]),
    ):
        seq, par = _measure(chosen, runs)
        print(
            f"kv-store {label}: sequential {seq:.1f} steps/s, --parallel 4 {par:.1f} steps/s, "
            f"ratio {par / seq:.2f}x (medians of {runs} runs)"
        )
    steps = [st for sc in load_dir(COMPAT).scenarios for st in sc.steps]
    decided = 0
    for st in steps:
        checks, rest = step_checks(st)
        decided += bool(checks) and not rest
    print(
        f"compat corpus: {decided}/{len(steps)} steps decided without a model "
        f"({100 * decided / len(steps):.1f}%; OctopusGarden: 0/{len(steps)}, every step to an LLM)"
    )


if __name__ == "__main__":
    main()

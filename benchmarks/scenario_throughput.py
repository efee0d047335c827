"""Scenario throughput and the share of steps decided without a model.

1. Steps per second running the compat kv-store scenarios against the reference kv-store,
   sequential (--parallel 1) against --parallel 4, medians of several runs, and their ratio.
   The ttl scenario sleeps 3 s by design (it waits for expiry), so the figures are also given
   without it, where the HTTP path dominates.
2. The share of all compat-corpus steps decided without a model (static: every sentence of the
   expectation is read by a rule, or an assert block covers the step).

3. Judge calls per iteration and the judging's wall time (issue 15, point 5), on hello-api and
   kv-store (without ttl) against their references, with a scripted judge that sleeps a fixed
   time per call (score 100): before (k = 3 always, one step at a time), after (early stop,
   4 steps at once), and after `assay scenarios compile` with the scripted OctopusGarden answers
   (benchmarks/octopusgarden_clauses.py); and the share of corpus steps decided without a model
   before and after that compile.

Run: .venv/bin/python benchmarks/scenario_throughput.py [--runs 5] [--judge-sleep 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

import pydantic_ai.models
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.judge import Judge
from assay.scenarios.compiler import compile_dir
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


def _sleeping_judge(delay: float) -> FunctionModel:
    async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(delay)
        args = {"score": 100.0, "reasoning": "scripted", "failures": []}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(answer, model_name="sleeping-judge")


JUDGED = (("hello-api", "hello_api.py"), ("kv-store", "kv_store.py"))


async def _judging(folder: Path, delay: float, concurrency: int, early: bool) -> tuple[int, float]:
    """Judge calls and judging wall time of one iteration over `JUDGED` under `folder`."""
    calls, seconds = 0, 0.0
    for name, service in JUDGED:
        scenarios = [s for s in load_dir(folder / name / "scenarios").scenarios if s.id != "ttl"]
        judge = Judge(_sleeping_judge(delay), samples=3, agree_within=10.0 if early else None)
        async with start_service(f"{sys.executable} {service}", cwd=REFERENCE) as svc:
            options = RunOptions(target=svc.url, judge=judge, judge_concurrency=concurrency)
            report = await ScenarioRunner(options).run(scenarios)
        calls += report.judge_calls
        seconds += report.judge_duration_s
    return calls, seconds


def _judge_figures(delay: float) -> None:
    from benchmarks.octopusgarden_clauses import scripted_compiler

    out = Path(tempfile.mkdtemp(prefix="assay-compiled-")) / "octopusgarden"
    done = asyncio.run(compile_dir(COMPAT, scripted_compiler(), out=out))
    before = asyncio.run(_judging(COMPAT, delay, 1, early=False))
    sequential = asyncio.run(_judging(COMPAT, delay, 1, early=True))
    concurrent = asyncio.run(_judging(COMPAT, delay, 4, early=True))
    compiled = asyncio.run(_judging(out, delay, 4, early=True))
    print(
        f"judge calls per iteration (hello-api + kv-store without ttl, k = 3): before "
        f"{before[0]}, early stop {concurrent[0]}, after compile {compiled[0]}"
    )
    print(
        f"judging wall time, {delay * 1000:.0f} ms per call: before (k = 3, one step at a time) "
        f"{before[1]:.2f} s; early stop one step at a time {sequential[1]:.2f} s, 4 at once "
        f"{concurrent[1]:.2f} s (ratio {sequential[1] / max(concurrent[1], 1e-9):.2f}x); "
        f"after compile {compiled[1]:.2f} s; "
        f"before / after all {before[1] / max(compiled[1], 1e-9):.1f}x"
    )
    print(
        f"compat corpus after `assay scenarios compile` (scripted answers): {done.decided_before}"
        f"/{done.total} -> {done.decided_after}/{done.total} steps decided without a model "
        f"({100 * done.decided_before / done.total:.1f}% -> "
        f"{100 * done.decided_after / done.total:.1f}%); {done.count('compiled')} compiled, "
        f"{done.count('partly')} partly (the rest stays with the judge), "
        f"{done.count('unsure')} unsure, {done.count('not-asked')} not asked (browser, ws)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--judge-sleep", type=float, default=0.05)
    parser.add_argument("--judge-only", action="store_true", help="only the judge's figures")
    args = parser.parse_args()
    runs = args.runs
    _judge_figures(args.judge_sleep)
    if args.judge_only:
        return
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

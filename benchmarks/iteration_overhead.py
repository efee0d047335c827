"""An iteration's own wall time, held-out scenarios after the gates or alongside them.

``overlap = false`` runs them after the gates and review, ``overlap = true`` (the default) while
those run. Replays a recorded
OctopusGarden conversation (tests/replays/og-hello-api or og-todo-app: one LLM played every
role, another the judge) through the real `assay run` CLI, gates and sandbox, so the model
answers instantly and only assay's own work is timed. For each mode, alternating, several runs;
from each run's ledger, iteration 1's wall time (its commit to its feedback), the gates and
review branch (commit to review) and the scenarios branch (their start to their result). Prints
medians of both modes, the slowest branch, and the ratios.

    DOCKER_HOST=unix:///run/podman/podman.sock .venv/bin/python benchmarks/iteration_overhead.py \\
        [--runs 3] [--backend bwrap|docker] [--spec hello-api|todo-app]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
from pathlib import Path

from assay.ledger import Event, Ledger
from assay.testing.replay import replay_run

REPO = Path(__file__).resolve().parents[1]
REPLAYS = REPO / "tests" / "replays"
COMPAT = REPO / "tests" / "compat" / "octopusgarden"


def _at(event: Event) -> dt.datetime:
    return dt.datetime.fromisoformat(event.time)


def _timings(run_dir: Path, overlap: bool) -> dict[str, float]:
    """Seconds of iteration 1: whole, gates and review, scenarios."""
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    by_step = {e.step: e for e in events if e.step}
    start = _at(by_step["iter-1/commit"])
    autofix = by_step.get("iter-1/autofix")
    if autofix is not None:  # the branches start once the coder's files are fixed up
        start = _at(autofix)
    review = _at(by_step["iter-1/review"])
    scenarios = _at(by_step["iter-1/scenarios"])
    feedback = _at(by_step["iter-1/feedback"])
    return {
        "iteration": (feedback - start).total_seconds(),
        "gates+review": (review - start).total_seconds(),
        "scenarios": (scenarios - (start if overlap else review)).total_seconds(),
    }


def _run(work: Path, overlap: bool, backend: str, spec: str) -> dict[str, float]:
    config = work / "assay.toml"
    config.write_text(
        f'[sandbox]\nbackend = "{backend}"\n\n[factory]\noverlap = {str(overlap).lower()}\n'
    )
    env = {k: v for k, v in os.environ.items() if k == "DOCKER_HOST"}
    run = replay_run(
        REPLAYS / f"og-{spec}" / "conversation.jsonl", COMPAT / spec / "spec.md",
        scenarios=COMPAT / spec / "scenarios", runs_dir=work / "runs",
        args=["--config", str(config), "--max-iterations", "4"], cwd=work, env=env,
    )  # fmt: skip
    run.check()
    if run.exit_code != 0 or run.run_dir is None:
        raise SystemExit("the replay did not converge:\n" + "\n".join(run.lines[-20:]))
    return _timings(run.run_dir, overlap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--spec", default="hello-api", choices=["hello-api", "todo-app"])
    args = parser.parse_args()
    results: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as scratch:
        for i in range(args.runs):
            for overlap in (False, True):
                work = Path(scratch) / f"{i}-{overlap}"
                work.mkdir()
                results[overlap].append(_run(work, overlap, args.backend, args.spec))
    med = {
        mode: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        for mode, runs in results.items()
    }
    serial, overlapped = med[False], med[True]
    slowest = max(overlapped["gates+review"], overlapped["scenarios"])
    print(f"{args.spec} replay, iteration 1, backend {args.backend}, medians of {args.runs} runs")
    for name, m in (("serial", serial), ("overlapped", overlapped)):
        print(
            f"  {name:<11} iteration {m['iteration']:6.2f} s   gates+review "
            f"{m['gates+review']:6.2f} s   scenarios {m['scenarios']:6.2f} s"
        )
    print(f"  overlapped / serial:          {overlapped['iteration'] / serial['iteration']:.2f}x")
    print(f"  overlapped / slowest branch:  {overlapped['iteration'] / slowest:.2f}x")


if __name__ == "__main__":
    main()

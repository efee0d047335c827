"""Shared by run_cost.py and prompt_cache.py: replay a recorded OctopusGarden conversation through
the real `assay run` (gates, sandbox, judge over real HTTP), and read each model request of the
ledger with its prompt text's size and the prefix it shares with its role's previous prompt."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from assay.factory import events as ev
from assay.ledger import Ledger
from assay.testing.replay import replay_run

REPO = Path(__file__).resolve().parents[1]
REPLAYS = REPO / "tests" / "replays"
COMPAT = REPO / "tests" / "compat" / "octopusgarden"


@dataclass(frozen=True)
class Call:
    """One model request and its response, as the ledger holds them."""

    role: str
    iteration: int
    prompt_chars: int
    stable_prefix_chars: int
    cache_point_chars: int
    tokens_in: int
    tokens_out: int


@dataclass(frozen=True)
class Replayed:
    outcome: str
    iterations: int
    calls: list[Call]


def replay(
    spec: str, *, backend: str = "bwrap", max_iterations: int = 4, recording: str | None = None
) -> Replayed:
    """Replay tests/replays/<recording> (default og-<spec>) against the compat corpus's <spec>;
    its model calls."""
    recording = recording or f"og-{spec}"
    with tempfile.TemporaryDirectory(prefix="assay-bench-") as scratch:
        work = Path(scratch)
        config = work / "assay.toml"
        config.write_text(f'[sandbox]\nbackend = "{backend}"\n')
        env = {k: v for k, v in os.environ.items() if k == "DOCKER_HOST"}
        run = replay_run(
            REPLAYS / recording / "conversation.jsonl", COMPAT / spec / "spec.md",
            scenarios=COMPAT / spec / "scenarios", runs_dir=work / "runs",
            args=["--config", str(config), "--max-iterations", str(max_iterations)],
            cwd=work, env=env,
        )  # fmt: skip
        run.check()
        if run.run_dir is None:
            raise SystemExit("the replay made no run:\n" + "\n".join(run.lines[-20:]))
        with Ledger.open(run.run_dir, create=False) as ledger:
            events = list(ledger.events())
    requests = list(ev.all_of(ev.ModelRequested, events))
    responses = {r.prompt_digest: r for r in ev.all_of(ev.ModelResponded, events)}
    calls = []
    for q in requests:
        r = responses.get(q.prompt_digest)
        calls.append(
            Call(
                role=q.role, iteration=q.iteration, prompt_chars=q.prompt_chars,
                stable_prefix_chars=q.stable_prefix_chars, cache_point_chars=q.cache_point_chars,
                tokens_in=r.tokens_in if r else 0, tokens_out=r.tokens_out if r else 0,
            )
        )  # fmt: skip
    finished = next(ev.all_of(ev.RunFinished, events), None)
    return Replayed(
        outcome=finished.outcome if finished else "unfinished",
        iterations=finished.iterations if finished else 0,
        calls=calls,
    )

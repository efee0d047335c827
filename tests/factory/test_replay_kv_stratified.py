"""Issue 17, points 3 and 4, as a model played them: OctopusGarden's kv-store, stratified.

LLMs played every role and the judge (tests/replays/og-kv-store-stratified) of
`assay run kv-store/spec.md --stratified --block-on-regression --house-style house-style.json`
(a FastAPI exemplar's conventions, from `assay extract`). In the recording, iteration 1 passed
tiers 1, 2 and 3 one after the other on the same commit (tier.advanced 1->2, 2->3), and only
mypy failed: "Untyped decorator" on every FastAPI route, because the gate could not see
FastAPI's types; the coder rewrote the routes in iteration 2 to please it. Since the mypy gate
reads the run's installed dependencies, the replay converges in iteration 1 and the
iteration-2 answers go unasked: the recording shows the defect, the replay its fix.
"""

from __future__ import annotations

from pathlib import Path

from assay.factory import events as ev
from assay.ledger import Ledger
from assay.testing.replay import replay_run

REPLAY = Path(__file__).parents[1] / "replays" / "og-kv-store-stratified"
KV = Path(__file__).parents[1] / "compat" / "octopusgarden" / "kv-store"


def test_the_played_stratified_kv_store_run_advances_its_tiers_and_converges(
    tmp_path: Path,
) -> None:
    config = tmp_path / "assay.toml"
    config.write_text("[factory]\nmax_iterations = 5\n")
    run = replay_run(
        REPLAY, KV / "spec.md", scenarios=KV / "scenarios", runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--stratified", "--block-on-regression",
              "--house-style", str(REPLAY / "house-style.json")],
        cwd=tmp_path,
    )  # fmt: skip
    assert run.mismatches == [], "\n".join(run.lines[-40:])
    assert run.exit_code == 0, "\n".join(run.lines[-40:])
    # the recorded second iteration (the coder's rewrite for mypy, its review) is never asked
    assert len(run.unserved) == 2, run.unserved
    assert run.run_dir is not None
    with Ledger.open(run.run_dir, create=False) as ledger:
        events = list(ledger.events())
    advances = [(a.from_tier, a.to_tier) for a in ev.all_of(ev.TierAdvanced, events)]
    assert advances == [(1, 2), (2, 3)]
    (decision,) = ev.all_of(ev.LoopDecided, events)
    assert decision.decision == "converged" and decision.iteration == 1
    (gates,) = ev.all_of(ev.GatesRan, events)
    mypy = next(r for r in gates.report.results if r.gate == "mypy")
    assert str(mypy.status) == "passed", mypy.findings
    started = next(ev.all_of(ev.RunStarted, events))
    assert started.house_style_sha256 and started.house_style_blob
    coder = next(e for e in ev.all_of(ev.ModelRequested, events) if e.role == "coder")
    with Ledger.open(run.run_dir, create=False) as ledger:
        prompt = ledger.get_blob(coder.prompt_blob).decode()
    assert "<house-style>" in prompt and "fastapi" in prompt.lower()

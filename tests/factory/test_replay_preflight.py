"""Issue 17, point 1: OctopusGarden's kv-store spec as a model reviewed it before any code.

An LLM played the spec reviewer through the bridge (tests/replays/og-kv-store-preflight): it
scored the spec 0.62 (completeness 0.60, ambiguity 0.65, testability 0.85, consistency 0.80)
and asked ten questions, each naming the spec's lines. Replayed over real HTTP to the real
`assay run`, the run stops before the architect: outcome ``preflight``, exit 1, the rule
finding (the spec fixes port 8080) and the questions printed, the report in the ledger, and no
request but the reviewer's.
"""

from __future__ import annotations

from pathlib import Path

from assay.factory import events as ev
from assay.ledger import Ledger
from assay.testing.replay import replay_run

REPLAY = Path(__file__).parents[1] / "replays" / "og-kv-store-preflight"
KV = Path(__file__).parents[1] / "compat" / "octopusgarden" / "kv-store"


def test_the_played_reviewer_stops_the_kv_store_run_before_the_architect(tmp_path: Path) -> None:
    config = tmp_path / "assay.toml"
    config.write_text("[factory]\nmax_iterations = 2\n")
    run = replay_run(
        REPLAY, KV / "spec.md", scenarios=KV / "scenarios", runs_dir=tmp_path / "runs",
        args=["--config", str(config)], cwd=tmp_path, preflight=True,
    )  # fmt: skip
    run.check()
    assert run.exit_code == 1, "\n".join(run.lines)
    out = "\n".join(run.lines)
    assert "clarity 0.62" in out and "threshold 0.80" in out
    assert "fixed-port" in out and "spec.md:69" in out
    assert "10. Expiry and DELETE" in out
    assert run.run_dir is not None
    with Ledger.open(run.run_dir, create=False) as ledger:
        events = list(ledger.events())
    (checked,) = ev.all_of(ev.PreflightChecked, events)
    report = checked.report
    assert not report.passed and report.review is not None
    assert report.review.overall == 0.62 and len(report.review.questions) == 10
    assert [r.role for r in ev.all_of(ev.ModelRequested, events)] == ["preflight"]
    finished = next(ev.all_of(ev.RunFinished, events))
    assert finished.outcome == "preflight"

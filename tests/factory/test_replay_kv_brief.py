"""Issue 15, point 6, model-played: OctopusGarden's kv-store with what each role is now sent.

Recorded 2026-12-02 (tests/replays/og-kv-store-brief/README.md): the design as a compact brief,
the tester's revision without the spec and design, the coder told to patch existing files with
diffs. The played tester was asked again in iteration 2 for a mypy finding in its tests, and the
played coder answered the security review with a diff. The replay runs the real `assay run`
over real HTTP under bwrap and checks, from the run's own ledger, what each prompt held.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessagesTypeAdapter

from assay.agents.prompt_text import prompt_text
from assay.factory import events as ev
from assay.ledger import Ledger
from assay.sandbox.bwrap import bwrap_problem
from assay.testing.replay import replay_run
from tests.conftest import COMPAT, REPO, line_with, require_or_skip

FIXTURE = REPO / "tests" / "replays" / "og-kv-store-brief"
SPEC_DIR = COMPAT / "kv-store"


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_played_kv_store_converges_on_briefer_prompts(tmp_path: Path) -> None:
    require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    work = tmp_path
    config = work / "assay.toml"
    config.write_text('[sandbox]\nbackend = "bwrap"\n')
    run = replay_run(
        FIXTURE / "conversation.jsonl", SPEC_DIR / "spec.md", scenarios=SPEC_DIR / "scenarios",
        runs_dir=work / "runs", args=["--config", str(config), "--max-iterations", "4"],
        cwd=work,
    )  # fmt: skip
    output = "\n".join(run.lines)
    run.check()
    assert run.exit_code == 0, output
    line_with(output, "iter 2 tester: 1 test file(s): tests/test_api.py")
    line_with(output, "iter 2 review: approve")
    line_with(output, "converged after 2 iteration(s)", "score 100.0")
    assert run.run_dir is not None
    with Ledger.open(run.run_dir, create=False) as ledger:
        events = list(ledger.events())
        prompts = {
            (q.role, q.iteration): prompt_text(
                ModelMessagesTypeAdapter.validate_json(ledger.get_blob(q.prompt_blob))
            )
            for q in ev.all_of(ev.ModelRequested, events)
        }
        coder_2 = next(
            e.payload["message"] for e in ledger.events(kind="message") if e.step == "iter-2/coder"
        )
    # the design is sent as a brief, never as JSON
    for key in (("tester", 0), ("coder", 1), ("coder", 2)):
        assert "<design>\npackage: kv_store_api\n" in prompts[key], key
        assert '"package":' not in prompts[key], key
    # the tester's revision: its findings and its files, not the spec and design again
    revision = prompts[("tester", 2)]
    assert "<findings>" in revision and "<spec>" not in revision and "<design>" not in revision
    assert len(revision) < len(prompts[("tester", 0)]) + 13_000  # its tests are most of it
    # the tester's revision and the second review begin with their role's marked stable part,
    # so a provider that honours cache points reads it instead of the whole prompt again
    requests = list(ev.all_of(ev.ModelRequested, events))
    for role in ("tester", "security-reviewer"):
        first, again = (q for q in requests if q.role == role)
        assert 0 < again.cache_point_chars == first.cache_point_chars, role
        assert again.stable_prefix_chars >= again.cache_point_chars, role
    # the coder's answer to the review was a patch of one file, not the file again
    assert [(f["path"], f["content"] is None) for f in coder_2["files"]] == [
        ("src/kv_store_api/store.py", True)
    ]
    assert "@@ " in coder_2["files"][0]["diff"]


def _replayed(tmp_path: Path, fixture: str, *lines: str) -> list[ev.ModelRequested]:
    """Replay `fixture` under bwrap; check its recorded last lines; its model requests."""
    require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    config = tmp_path / "assay.toml"
    config.write_text('[sandbox]\nbackend = "bwrap"\n')
    run = replay_run(
        REPO / "tests" / "replays" / fixture / "conversation.jsonl", SPEC_DIR / "spec.md",
        scenarios=SPEC_DIR / "scenarios", runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--max-iterations", "4"], cwd=tmp_path,
    )  # fmt: skip
    output = "\n".join(run.lines)
    run.check()
    assert run.exit_code == 0, output
    for line in lines:
        line_with(output, line)
    assert run.run_dir is not None
    with Ledger.open(run.run_dir, create=False) as ledger:
        return list(ev.all_of(ev.ModelRequested, ledger.events()))


@pytest.mark.sandbox
@pytest.mark.slow
def test_the_played_kv_store_converges_in_one_iteration_with_every_role_cache_marked(
    tmp_path: Path,
) -> None:
    """Recorded 2026-12-02 after the tester's and the reviewer's stable openings got cache
    points of their own (tests/replays/og-kv-store-one/README.md): one iteration, every gate
    and scenario at once. Each role after the architect marks a cache point after its stable
    part (the environment first), which the ledger records."""
    requests = _replayed(
        tmp_path, "og-kv-store-one", "iter 1 review: approve",
        "iter 1 scenarios: satisfaction 100.0/100, 7 of 7 passed",
        "converged after 1 iteration(s)", "score 100.0",
    )  # fmt: skip
    marked = {q.role: q.cache_point_chars for q in requests}
    assert marked["architect"] == 0  # asked once a run: nothing to mark beyond the automatic
    for role in ("tester", "coder", "security-reviewer"):
        assert 4_000 < marked[role] < 40_000, (role, marked[role])  # the environment at least
    assert marked["coder"] > marked["tester"] > marked["security-reviewer"], marked

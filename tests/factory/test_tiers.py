"""``--stratified`` and ``--block-on-regression`` with the scripted team, the real ruff gate and a
holdout validator that imports the generated package in a fresh interpreter.

The coder writes `src/app/core.py` with the functions it already had plus one per scenario the
feedback names. The stratified run must see tier 1 pass first, then tier 2, then tier 3, never
counting a higher tier early; the regression run has a coder whose fix for one scenario breaks
another that had passed, which the flag refuses to converge on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.commands._compose import recorded_run
from assay.commands._holdout import up_to_tier
from assay.config import FactoryConfig, Settings
from assay.errors import RunError
from assay.evidence.report_html import render_html
from assay.evidence.summary import summarize
from assay.factory.loop import Factory, RoleModels, RunOutcome
from assay.factory.progress_lines import line_for
from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger, verify_run
from assay.ledger.keys import Signer
from assay.messages import Changeset, Design, FileChange
from assay.scenarios.loader import load_dir
from assay.testing import last_prompt
from tests.conftest import COMPAT, scripted_app

app = scripted_app()

FUNCTIONS = {
    "greets": ("greet", 'return f"Hello, {name}!"', ("Ada",), "Hello, Ada!"),
    "shouts": ("shout", 'return name.upper() + "!"', ("ada",), "ADA!"),
    "whispers": ("whisper", 'return name.lower() + "..."', ("ADA",), "ada..."),
    "waves": ("wave", 'return f"o/ {name}"', ("Ada",), "o/ Ada"),
}
"""Scenario id -> the function it calls, its body, the call's arguments and the answer it wants."""


def render(ids: list[str]) -> str:
    defs = [
        f"def {FUNCTIONS[i][0]}(name: str) -> str:\n    {FUNCTIONS[i][1]}\n" for i in sorted(ids)
    ]
    return '"""Greetings."""\n\n\n' + "\n\n".join(defs)


def coder(first: list[str], *, clobber: tuple[str, str] | None = None) -> FunctionModel:
    """Writes `first` at once, then adds each scenario the feedback names. With `clobber`
    ``(new, lost)``: adding `new` drops `lost`, unless the feedback names `lost` too."""

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        current = app._read_back(messages)
        if current is None:
            call = ToolCallPart("read_file", {"path": "src/app/core.py"})
            return ModelResponse(parts=[call], model_name="coder")
        fb = app._feedback(last_prompt(messages))
        have = [i for i, f in FUNCTIONS.items() if f"def {f[0]}(" in current] or list(first)
        named = [i for i in FUNCTIONS if i in fb and i not in have]
        ids = [*have, *named]
        if clobber is not None and clobber[0] in named and clobber[1] not in fb:
            ids.remove(clobber[1])  # the fix for one scenario rewrote the other's function
        out = Changeset(
            files=[
                FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
                FileChange(path="src/app/core.py", content=render(ids)),
            ],
            rationale="add what the feedback names" if fb else "first version",
        )
        args = out.model_dump(mode="json")
        args.pop("kind")
        tool = ToolCallPart(info.output_tools[0].name, args)
        return ModelResponse(parts=[tool], model_name="coder")

    return FunctionModel(fn, model_name="coder")


@dataclass
class Call:
    iteration: int
    tier: int | None
    ran: list[str]


def holdout(tiers: dict[str, int], calls: list[Call]) -> Callable[..., Awaitable[Any]]:
    """A validator of the scenarios in `tiers` (id -> tier) that, like assay's, runs only tiers
    <= the one asked for, and reports every tier there is."""

    async def validate(
        workspace: Path, design: Design, iteration: int, *, tier: int | None = None
    ) -> ValidationResult:
        ran = sorted(i for i, t in tiers.items() if tier is None or t <= tier)
        calls.append(Call(iteration, tier, ran))
        probe = {i: FUNCTIONS[i][0] for i in ran}
        script = (
            "import json, sys\nimport app.core as m\nout = {}\n"
            f"for sid, fn in {probe!r}.items():\n"
            "    f = getattr(m, fn, None)\n"
            f"    args = { ({i: FUNCTIONS[i][2] for i in ran})!r}[sid]\n"
            "    out[sid] = f(*args) if f else 'missing ' + fn\n"
            "print(json.dumps(out))\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
            env={"PYTHONPATH": str(workspace / "src")}, check=False,
        )  # fmt: skip
        seen = json.loads(proc.stdout) if proc.returncode == 0 else {}
        outcomes = [
            ScenarioOutcome(
                id=i, title=i, passed=seen.get(i) == FUNCTIONS[i][3],
                score=100.0 if seen.get(i) == FUNCTIONS[i][3] else 0.0,
                observed=str(seen.get(i, proc.stderr[-200:])), tier=tiers[i],
            )
            for i in ran
        ]  # fmt: skip
        satisfaction = 100.0 * sum(o.passed for o in outcomes) / len(outcomes)
        return ValidationResult(
            satisfaction=satisfaction, scenarios=outcomes, tier=tier,
            tiers=sorted(set(tiers.values())),
        )  # fmt: skip

    return validate


async def run(run_dir: Path, coder_model: FunctionModel, validator: Any, **cfg: Any) -> RunOutcome:
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=coder_model,
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(**cfg)), models=models,
        gates=[RuffGate()], validator=validator, signer=Signer.generate(),
    )  # fmt: skip
    return await factory.run()


def payloads(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.payload for e in ledger.events(kind=kind)]


def coder_feedback(run_dir: Path) -> dict[int, str]:
    """The feedback part of each coder prompt, by iteration."""
    with Ledger.open(run_dir, create=False) as ledger:
        return {
            e.payload["iteration"]: app._feedback(
                ledger.get_blob(e.payload["prompt_blob"]).decode()
            )
            for e in ledger.events(kind="model.request")
            if e.payload["role"] == "coder"
        }


TIERS = {"greets": 1, "shouts": 2, "whispers": 3}


async def test_stratified_converges_tier_by_tier(tmp_path: Path) -> None:
    calls: list[Call] = []
    run_dir = tmp_path / "stratified"
    outcome = await run(run_dir, coder(["greets"]), holdout(TIERS, calls), stratified=True)

    assert outcome.outcome == "converged" and outcome.iterations == 3
    # tier 1 passes on the first commit and tier 2 is run at once; tier 3 waits for tier 2
    assert [(c.iteration, c.tier, c.ran) for c in calls] == [
        (1, 1, ["greets"]),
        (1, 2, ["greets", "shouts"]),
        (2, 2, ["greets", "shouts"]),
        (2, 3, ["greets", "shouts", "whispers"]),
        (3, 3, ["greets", "shouts", "whispers"]),
    ]
    advanced = [
        (p["iteration"], p["from_tier"], p["to_tier"]) for p in payloads(run_dir, "tier.advanced")
    ]
    assert advanced == [(1, 1, 2), (2, 2, 3)]
    ran = payloads(run_dir, "scenario.result")
    assert [(p["iteration"], p["tier"], p["score"]) for p in ran] == [
        (1, 1, 100.0), (1, 2, 50.0), (2, 2, 100.0), (2, 3, 200 / 3), (3, 3, 100.0),
    ]  # fmt: skip
    before_tier_3 = [p for p in ran if p["tier"] < 3]
    assert not any(s["id"] == "whispers" for p in before_tier_3 for s in p["scenarios"])
    decisions = payloads(run_dir, "loop.decision")
    assert [(p["decision"], p["tier"]) for p in decisions] == [
        ("continue", 2), ("continue", 3), ("converged", 3),
    ]  # fmt: skip
    feedback = coder_feedback(run_dir)
    assert "shouts" in feedback[2] and "whispers" not in feedback[2]  # tier 3 was not counted
    assert "whispers" in feedback[3]
    assert verify_run(run_dir).ok

    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    lines = [line for e in events if (line := line_for(e))]
    assert "iter 1 tier: tiers <= 1 passed (100.0/100); tier 2 is run from now on" in lines
    assert "iter 1 scenarios: tiers <= 2, satisfaction 50.0/100, 1 of 2 passed" in lines
    summary = summarize(events, run_id=run_dir.name)
    assert summary.stratified and not summary.block_on_regression
    assert [(a.iteration, a.to_tier) for a in summary.tier_advances] == [(1, 2), (2, 3)]
    assert [r.tier for r in summary.iterations] == [2, 3, 3]
    html = render_html(summary)
    assert "Stratified: on" in html and "<h3>Tier advances</h3>" in html


async def test_unstratified_counts_every_tier_at_once(tmp_path: Path) -> None:
    calls: list[Call] = []
    run_dir = tmp_path / "flat"
    outcome = await run(run_dir, coder(["greets"]), holdout(TIERS, calls))
    assert outcome.outcome == "converged" and outcome.iterations == 2
    assert [(c.iteration, c.tier) for c in calls] == [(1, None), (2, None)]
    assert payloads(run_dir, "tier.advanced") == []
    assert "shouts" in coder_feedback(run_dir)[2] and "whispers" in coder_feedback(run_dir)[2]


FLAT = dict.fromkeys(FUNCTIONS, 1)
BREAKS = coder(["greets", "shouts"], clobber=("whispers", "greets"))
"""Iteration 1 passes greets and shouts (50); iteration 2 adds whispers and waves and loses
greets (75, over the threshold of 70); once greets is named, it is put back (100)."""


async def test_block_on_regression_refuses_convergence_until_fixed(tmp_path: Path) -> None:
    run_dir = tmp_path / "blocked"
    outcome = await run(run_dir, BREAKS, holdout(FLAT, []), threshold=70, block_on_regression=True)
    assert outcome.outcome == "converged" and outcome.iterations == 3
    decisions = payloads(run_dir, "loop.decision")
    assert [p["decision"] for p in decisions] == ["continue", "continue", "converged"]
    assert decisions[1]["scores"]["satisfaction"] == 75.0  # over the threshold, refused
    assert decisions[1]["scores"]["regressions"] == 1
    assert (
        "convergence refused, regressed: greets (passed in iteration 1)" in decisions[1]["reason"]
    )
    found = payloads(run_dir, "scenario.regression")
    assert found == [{"iteration": 2, "scenarios": [{"id": "greets", "passed_in": 1}]}]
    told = coder_feedback(run_dir)[3]
    assert "regression: greets passed in iteration 1 and fails now" in told
    core = (run_dir / "workspace" / "src/app/core.py").read_text()
    assert all(f"def {FUNCTIONS[i][0]}(" in core for i in FUNCTIONS)

    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    assert "iter 2 regression: 1 scenario fail again: greets (passed in iteration 1)" in [
        line_for(e) for e in events
    ]
    summary = summarize(events, run_id=run_dir.name)
    assert summary.block_on_regression and not summary.stratified
    assert [(r.iteration, r.scenario, r.passed_in) for r in summary.regressions] == [
        (2, "greets", 1)
    ]
    html = render_html(summary)
    assert "block on regression: on" in html and "<h3>Regressions</h3>" in html


async def test_without_the_flag_the_same_script_converges_on_the_regression(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "lenient"
    outcome = await run(run_dir, BREAKS, holdout(FLAT, []), threshold=70)
    assert outcome.outcome == "converged" and outcome.iterations == 2
    assert payloads(run_dir, "scenario.regression") == []
    core = (run_dir / "workspace" / "src/app/core.py").read_text()
    assert "def greet(" not in core  # what the flag is for


def failing_once_at(iteration: int, model: FunctionModel) -> FunctionModel:
    """`model`, whose provider is down the first time it is asked in `iteration`."""
    failed: list[bool] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if f"Iteration {iteration}" in last_prompt(messages) and not failed:
            failed.append(True)
            raise ModelHTTPError(503, "scripted", "the provider is down")
        assert model.function is not None
        return model.function(messages, info)  # type: ignore[return-value]

    return FunctionModel(fn, model_name="coder")


async def test_a_resumed_stratified_run_continues_at_its_tier(tmp_path: Path) -> None:
    calls: list[Call] = []
    run_dir = tmp_path / "resumed"
    options = {"stratified": True, "block_on_regression": True}
    with pytest.raises(RunError, match="assay resume"):
        await run(run_dir, failing_once_at(3, coder(["greets"])), holdout(TIERS, calls), **options)
    assert [c.iteration for c in calls] == [1, 1, 2, 2]
    calls.clear()
    outcome = await run(run_dir, coder(["greets"]), holdout(TIERS, calls), **options)
    assert outcome.outcome == "converged" and outcome.iterations == 3
    # the completed iterations were read back, so the tier was 3 at once
    assert [(c.iteration, c.tier) for c in calls] == [(3, 3)]
    assert [p["tier"] for p in payloads(run_dir, "loop.decision")] == [2, 3, 3]
    recorded = recorded_run(run_dir, env={"ASSAY_TESTING_MODELS": "scripted_app:models"})
    assert recorded.settings.factory.stratified and recorded.settings.factory.block_on_regression


def test_assay_runs_only_the_tiers_asked_for_on_the_octopusgarden_corpus() -> None:
    kv = load_dir(COMPAT / "kv-store" / "scenarios")
    kv.raise_for_errors()
    by_tier = {t: sorted(s.id for s in up_to_tier(kv.scenarios, t)[0]) for t in (1, 2, 3)}
    assert len(by_tier[1]) == 3 and len(by_tier[2]) == 5 and len(by_tier[3]) == 7
    assert set(by_tier[1]) < set(by_tier[2]) < set(by_tier[3])
    # hello-api gives a tier to one scenario only: the others count as tier 1
    hello = load_dir(COMPAT / "hello-api" / "scenarios")
    assert [s.tier for s in hello.scenarios].count(None) == len(hello.scenarios) - 1
    chosen, reach = up_to_tier(hello.scenarios, 1)
    assert len(chosen) == len(hello.scenarios) and reach == 1
    # no scenario as low as asked: the lowest tier present is run, not nothing
    upper = [s for s in kv.scenarios if s.level >= 2]
    chosen, reach = up_to_tier(upper, 1)
    assert reach == 2 and sorted(s.id for s in chosen) == sorted(set(by_tier[2]) - set(by_tier[1]))

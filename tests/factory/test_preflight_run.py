"""`assay run` preflights the spec before the architect: a spec below the threshold stops the run
there (exit 1, a ``preflight.result`` event, no architect request, what to fix printed);
``--skip-preflight`` and ``[tool.assay.preflight] enabled = false`` skip it; a clear spec goes on
to build. The real CLI, in-process, with scripted models (``tests/factory/preflight_team.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.commands._compose import describe_run, recorded_run
from assay.config import PreflightConfig, Settings
from assay.factory import events as ev
from assay.ledger import Event, Ledger, verify_run
from assay.ledger import kinds as k
from assay.spec import parse_spec
from assay.testing import TESTING_MODELS_ENV
from tests.conftest import line_with, scripted_app
from tests.factory import preflight_team

scripted_app()  # registers `scripted_app`, which the team's models come from
SPEC = "---\nname: greeter\n---\n# Greeter\n\nA library that greets people.\n"
CONFIG = '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n'


def _run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, team: str, *extra: str, config: str = CONFIG
) -> tuple[int, list[Event]]:
    monkeypatch.setenv(TESTING_MODELS_ENV, f"tests.factory.preflight_team:{team}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "assay.toml").write_text(config)
    (tmp_path / "spec.md").write_text(SPEC)
    runs = tmp_path / "runs"
    code = main(["run", str(tmp_path / "spec.md"), "--config", str(tmp_path / "assay.toml"),
                 "--runs-dir", str(runs), "--no-live", *extra])  # fmt: skip
    (run_dir,) = [p.parent for p in runs.glob("*/ledger.sqlite")]
    assert verify_run(run_dir).ok
    with Ledger.open(run_dir, create=False) as ledger:
        return code, list(ledger.events())


def _requests(events: list[Event]) -> list[str]:
    return [e.payload["role"] for e in events if e.kind == k.MODEL_REQUEST]


def test_an_unclear_spec_stops_the_run_before_the_architect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    preflight_team.PROMPTS.clear()
    code, events = _run(tmp_path, monkeypatch, "unclear")
    assert code == 1
    (checked,) = ev.all_of(ev.PreflightChecked, events)
    report = checked.report
    assert not report.passed and report.score == 0.6 and report.threshold == 0.8
    assert report.model == "scripted:preflight" and report.review is not None
    assert report.review.questions == preflight_team.QUESTIONS
    assert _requests(events) == ["preflight"]  # the reviewer only: no architect, no code
    assert not [e for e in events if e.kind == k.MESSAGE]
    assert not [e for e in events if e.kind == k.WORKSPACE_COMMIT]
    (finished,) = ev.all_of(ev.RunFinished, events)
    assert finished.outcome == "preflight" and "below the threshold 0.80" in finished.reason
    assert "Greeter" in preflight_team.PROMPTS[0]  # the reviewer was sent the spec
    err = capsys.readouterr().err
    line_with(err, "iter 0 preflight: failed, clarity 0.60 (threshold 0.80)")
    line_with(err, "preflight", "after 0 iteration(s)")
    for question in preflight_team.QUESTIONS:  # what to fix, printed whole
        line_with(err, question)
    line_with(err, "preflight", "below the bar", "clarity 0.60")


def test_a_clear_spec_is_checked_first_and_then_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, events = _run(tmp_path, monkeypatch, "clear")
    assert code == 0
    (checked,) = ev.all_of(ev.PreflightChecked, events)
    assert checked.report.passed and checked.report.score == 0.9
    roles = _requests(events)
    assert roles[0] == "preflight" and roles[1] == "architect" and roles.count("preflight") == 1
    seq = {e.kind: e.seq for e in reversed(events)}  # each kind's first event
    assert seq[k.PREFLIGHT_RESULT] < seq[k.MESSAGE]  # before the spec goes to the architect
    (started,) = ev.all_of(ev.RunStarted, events)
    assert started.preflight and started.models["preflight"] == "scripted:preflight"


def test_skip_preflight_skips_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, events = _run(tmp_path, monkeypatch, "unclear", "--skip-preflight")
    assert code == 0  # the unclear verdict was never asked for
    assert not list(ev.all_of(ev.PreflightChecked, events))
    assert "preflight" not in _requests(events)
    (started,) = ev.all_of(ev.RunStarted, events)
    assert started.preflight is False and "preflight" not in started.models


def test_the_settings_decide_whether_and_against_what_a_run_preflights(tmp_path: Path) -> None:
    spec = parse_spec(SPEC)
    env = {TESTING_MODELS_ENV: "tests.factory.preflight_team:clear"}

    def described(settings: Settings, *, skip: bool = False) -> bool:
        return describe_run(
            spec, settings, run_dir=tmp_path / "r", scenarios=None, env=env, skip_preflight=skip
        ).preflight

    assert described(Settings())
    assert not described(Settings(), skip=True)
    assert not described(Settings(preflight=PreflightConfig(enabled=False)))
    assert PreflightConfig().threshold == 0.8


def test_a_configured_threshold_lets_the_same_review_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CONFIG + "[preflight]\nthreshold = 0.5\n"
    code, events = _run(tmp_path, monkeypatch, "unclear", config=config)
    assert code == 0
    (checked,) = ev.all_of(ev.PreflightChecked, events)
    assert checked.report.passed and checked.report.threshold == 0.5
    # a resume reads the run's choice back from run.started, and the step is not redone
    (run_dir,) = [p.parent for p in (tmp_path / "runs").glob("*/ledger.sqlite")]
    assert recorded_run(run_dir, env={TESTING_MODELS_ENV: "x:y"}).preflight is True

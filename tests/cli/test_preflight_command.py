"""`assay preflight SPEC`: findings and scores printed, ``--json``, ``--no-model``; exit 0 at or
above the threshold, 1 below it or with an error finding, 2 for a usage error. Scripted models
only (``tests/factory/preflight_team.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.cli import main
from assay.testing import TESTING_MODELS_ENV
from tests.conftest import COMPAT, line_with
from tests.factory import preflight_team

API = (
    "---\nname: shop\n---\n# Shop\n\n## Endpoints\n\n"
    "- `GET /items` answers `200` with the items.\n- Unknown items are `404`.\n"
    "- Listen on port 8080.\n"
)


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no project config is found: the defaults
    for name in ("ASSAY_MODEL", "ASSAY_PREFLIGHT_MODEL", "ASSAY_ARCHITECT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "spec.md"
    path.write_text(API)
    return path


def test_no_model_prints_each_finding_with_its_file_line_and_fix(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preflight", "--no-model", str(spec)]) == 0  # warnings only: not below the bar
    out = capsys.readouterr().out
    line_with(out, f"{spec}:10:", "fixed-port", "8080", "fix:", "PORT")
    line_with(out, f"{spec}:9:", "error-format", "fix:")
    line_with(out, "preflight passed", "not reviewed by a model", "2 finding(s), 0 error(s)")


def test_an_error_finding_exits_1_without_a_model(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec.write_text(API + "- Build it on Express.js.\n")
    assert main(["preflight", "--no-model", str(spec)]) == 1
    line_with(capsys.readouterr().out, "framework-policy", "Express.js", "assay builds Python")


def test_json_is_the_report(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["preflight", "--no-model", "--json", str(spec)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "preflight-report" and report["passed"] is True
    assert [(f["rule_id"], f["line"]) for f in report["findings"]] == [
        ("error-format", 9), ("fixed-port", 10),
    ]  # fmt: skip
    assert report["review"] is None and report["threshold"] == 0.8


def test_a_review_below_the_threshold_exits_1_with_scores_and_questions(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TESTING_MODELS_ENV, "tests.factory.preflight_team:unclear")
    assert main(["preflight", str(spec)]) == 1
    out = capsys.readouterr().out
    line_with(out, "clarity 0.60", "completeness 0.60", "ambiguity 0.60", "testability 0.60",
              "consistency 0.60")  # fmt: skip
    for n, question in enumerate(preflight_team.QUESTIONS, 1):
        line_with(out, f"{n}. {question}")
    line_with(out, "preflight", "below the bar", "clarity 0.60, threshold 0.80")


def test_a_review_at_or_above_the_threshold_exits_0(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(TESTING_MODELS_ENV, "tests.factory.preflight_team:clear")
    assert main(["preflight", "--json", str(spec)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["review"]["overall"] == 0.9 and report["model"] == "scripted:preflight"
    monkeypatch.setenv(TESTING_MODELS_ENV, "tests.factory.preflight_team:unclear")
    assert main(["preflight", "--threshold", "0.6", str(spec)]) == 0  # at the bar passes


def test_the_threshold_comes_from_the_config(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (spec.parent / "assay.toml").write_text("[preflight]\nthreshold = 0.5\n")
    monkeypatch.setenv(TESTING_MODELS_ENV, "tests.factory.preflight_team:unclear")
    assert main(["preflight", str(spec)]) == 0
    line_with(capsys.readouterr().out, "preflight passed", "threshold 0.50")


def test_no_model_configured_is_a_usage_error_naming_the_ways(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(TESTING_MODELS_ENV, raising=False)
    assert main(["preflight", str(spec)]) == 2
    line_with(capsys.readouterr().err, "no model configured for preflight", "--no-model")


def test_a_real_octopusgarden_spec_passes_without_a_model(capsys: pytest.CaptureFixture[str]) -> (
    None
):  # fmt: skip
    assert main(["preflight", "--no-model", str(COMPAT / "kanban-board" / "spec.md")]) == 0
    line_with(capsys.readouterr().out, "preflight passed", "0 finding(s)")

"""The sampled judge, and `assay validate` end to end through the CLI's error boundary."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic_ai.models.function import FunctionModel

from assay.agents.judge import Judge, JudgeRequest
from assay.cli import main
from tests.conftest import line_with

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"
HELLO = COMPAT / "hello-api" / "scenarios"


async def test_judge_samples_k_times_and_reports_mean_and_spread(
    judge_model: Callable[..., FunctionModel],
) -> None:
    model = judge_model(iter([60.0, 80.0, 100.0]))
    judge = Judge(model, samples=3, temperature=0.3)
    verdict = await judge.judge(
        JudgeRequest(expectation="Mentions garden.", observation="$ x\nexit code 0", step="s")
    )
    assert sorted(s.score for s in verdict.samples) == [60, 80, 100]
    assert verdict.mean == 80
    assert round(verdict.spread, 3) == 16.33  # population standard deviation
    assert (verdict.low, verdict.high) == (60, 100)
    assert set(verdict.failures) == {"scripted shortfall at 60.0", "scripted shortfall at 80.0"}
    seen = model.seen  # type: ignore[attr-defined]
    assert len(seen) == 3 and all(i.model_settings == {"temperature": 0.3} for i in seen)


def _start(mutant: str = "", exit_after: int = 0) -> list[str]:
    return [
        "--code",
        str(REFERENCE),
        "--start",
        f"env MUTANT={mutant} EXIT_AFTER={exit_after} {sys.executable} hello_api.py",
        "--sandbox",
        "local",  # the host subprocess path; tests/integration runs these under bwrap
    ]


def test_validate_exit_codes_and_formats(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_JUDGE_MODEL", raising=False)
    only_det = tmp_path / "det"
    only_det.mkdir()
    for name in ("crud.yaml", "not-found.yaml", "pagination.yaml"):
        (only_det / name).write_text((HELLO / name).read_text())
    out = tmp_path / "report.json"
    args = ["validate", "-s", str(only_det), *_start(), "-f", "json", "-o", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["passed"] and report["satisfaction"] == 100
    assert report["steps_without_model"] == report["steps_total"] == 10
    junit = tmp_path / "report.xml"
    args = [
        "validate",
        "-s",
        str(only_det),
        *_start("wrong-status"),
        "-f",
        "junit",
        "-o",
        str(junit),
    ]
    assert main(args) == 1
    xml = junit.read_text()
    assert "<failure" in xml and "expected status 204, got status 200" in xml
    assert main(["validate", "-s", str(only_det), *_start(), "--threshold", "101"]) == 2
    capsys.readouterr()
    assert main(["validate", "-s", str(HELLO), *_start()]) == 1  # unjudged steps cannot pass
    assert "unjudged" in capsys.readouterr().out


def test_validate_error_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_yaml = tmp_path / "bad"
    bad_yaml.mkdir()
    (bad_yaml / "x.yaml").write_text("id: x\nsteps: [\n")
    assert main(["validate", "-s", str(bad_yaml), "--target", "http://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert f"{bad_yaml / 'x.yaml'}:" in err and "SC002" in err and "Traceback" not in err

    unknown = tmp_path / "unknown"
    unknown.mkdir()
    (unknown / "u.yaml").write_text("id: u\nsteps:\n  - description: d\n    smtp: {}\n")
    assert main(["validate", "-s", str(unknown), "--target", "http://127.0.0.1:1"]) == 2
    line_with(capsys.readouterr().err, f"{unknown / 'u.yaml'}:3:5: SC015")

    assert main(["validate", "-s", str(HELLO)]) == 2
    assert "exactly one of --target" in capsys.readouterr().err

    never = ["--code", str(tmp_path), "--start", f"{sys.executable} -c \"print('booting')\""]
    never += ["--sandbox", "local"]
    assert main(["validate", "-s", str(HELLO), *never, "--start-timeout", "5"]) == 3
    err = capsys.readouterr().err
    line_with(err, "exited with code 0 before becoming healthy")
    assert "booting" in err

    hang = [
        "--code",
        str(tmp_path),
        "--start",
        f'{sys.executable} -c "import time; time.sleep(30)"',
        "--sandbox",
        "local",
    ]
    assert main(["validate", "-s", str(HELLO), *hang, "--start-timeout", "1"]) == 3
    assert "never became healthy" in capsys.readouterr().err


def test_undefined_variable_and_connection_refused_mid_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "undef.yaml").write_text(
        "id: undef\nsteps:\n  - description: uses a ghost\n    request:\n"
        "      method: GET\n      path: /items/{ghost}\n    expect: Status 200.\n"
    )
    assert main(["validate", "-s", str(folder), *_start()]) == 1
    line_with(capsys.readouterr().out, "undef.yaml:3", "undefined variable {ghost}")

    # the service answers the health check and one request, then dies
    (folder / "undef.yaml").unlink()
    (folder / "crud.yaml").write_text((HELLO / "crud.yaml").read_text())
    assert main(["validate", "-s", str(folder), *_start(exit_after=2), "-v"]) == 1
    out = capsys.readouterr().out
    line_with(out, "cannot connect")
    line_with(out, "exited with code 3")
    assert "Traceback" not in out

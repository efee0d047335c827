"""`assay gate` end to end through the CLI's error boundary: exit codes, messages and formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from assay.cli import main
from assay.gates.base import GateReport, GateStatus
from assay.gates.output import source_root

REPO = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = REPO / "tests" / "schemas" / "sarif-schema-2.1.0.json"


def gate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["gate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_nonexistent_path_is_a_clear_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = gate(capsys, str(tmp_path / "nowhere"))
    assert code == 2
    assert "path does not exist" in err and "nowhere" in err
    assert "Traceback" not in err


def test_tree_without_python_is_no_gate_applies(
    capsys: pytest.CaptureFixture[str], project: Any
) -> None:
    code, _, err = gate(capsys, str(project("nopython")), "--only", "ruff", "--only", "complexity")
    assert code == 2
    assert "no gate applies" in err


def test_unknown_gate_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], project: Any
) -> None:
    code, _, err = gate(capsys, str(project("clean")), "--only", "pylint")
    assert code == 2
    assert "unknown gate 'pylint'" in err


def test_bad_config_exits_2_naming_key_and_file(
    capsys: pytest.CaptureFixture[str], project: Any
) -> None:
    root = project("clean")
    (root / "assay.toml").write_text("[gates.complexity]\nmax = 0\n")
    code, _, err = gate(capsys, str(root), "--only", "complexity")
    assert code == 2
    assert "[gates.complexity.max]" in err and "assay.toml" in err


def test_exit_0_when_required_gates_pass(capsys: pytest.CaptureFixture[str], project: Any) -> None:
    code, out, _ = gate(capsys, str(project("clean")), "--only", "ruff", "--only", "complexity")
    assert code == 0
    assert "passed: 2 gate(s) evaluated" in out


def test_exit_1_when_a_required_gate_fails(
    capsys: pytest.CaptureFixture[str], project: Any
) -> None:
    root = project("complexity")
    (root / "assay.toml").write_text("[gates.complexity]\nmax = 10\n")
    code, out, _ = gate(capsys, str(root), "--only", "complexity")
    assert code == 1
    assert "route has cyclomatic complexity 12 (max 10)" in out
    assert "failed: complexity" in out


def test_advisory_gate_failing_does_not_fail_the_run(
    capsys: pytest.CaptureFixture[str], project: Any
) -> None:
    root = project("complexity")
    (root / "assay.toml").write_text("[gates.complexity]\nrequired = false\n")
    code, out, _ = gate(capsys, str(root), "--only", "complexity")
    assert code == 0
    assert "advisory" in out


@pytest.fixture(scope="module")
def bandit_reports(tmp_path_factory: pytest.TempPathFactory, gl: Any) -> dict[str, str]:
    """The bandit fixture gated once per output format (the cache makes the later runs cheap)."""
    root = gl.copy("bandit", tmp_path_factory.mktemp("cli") / "bandit")
    out: dict[str, str] = {}
    for fmt in ("json", "sarif", "junit"):
        target = root.parent / f"report.{fmt}"
        code = main(["gate", str(root), "--only", "bandit", "--only", "complexity",
                     "--format", fmt, "--output", str(target)])  # fmt: skip
        assert code == 1
        out[fmt] = target.read_text()
    return out


def test_sarif_validates_against_the_oasis_schema(bandit_reports: dict[str, str]) -> None:
    document = json.loads(bandit_reports["sarif"])
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert document["version"] == "2.1.0"
    bandit_run = next(r for r in document["runs"] if r["properties"]["assayGate"] == "bandit")
    assert {"B602", "B301", "B307"} <= {r["ruleId"] for r in bandit_run["results"]}
    assert all(r["partialFingerprints"]["assayFingerprint/v1"] for r in bandit_run["results"])


def test_junit_parses_with_a_suite_per_gate(bandit_reports: dict[str, str]) -> None:
    junit = bandit_reports["junit"].split("?>", 1)[1]
    # parses the report assay just wrote
    root = ET.fromstring(junit)  # nosec B314
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"assay.gates.bandit", "assay.gates.complexity"}
    bandit = {c.get("name"): c for c in suites["assay.gates.bandit"].iter("testcase")}
    # app.py, unless the temporary folder happens to be inside a git work tree
    app = source_root(json.loads(bandit_reports["json"])["root"]).path("app.py")
    b602 = bandit[f"B602 at {app}:7:5"]
    assert (b602.get("file"), b602.get("line")) == (app, "7")
    failure = b602.find("failure")
    assert failure is not None and "B602" in (failure.text or "")
    complexity = list(suites["assay.gates.complexity"].iter("testcase"))
    broken = app.replace("app.py", "broken.py")
    assert [c.get("name") for c in complexity] == [f"parse-error at {broken}:1:12"]  # ruff too
    assert complexity[0].find("failure") is not None
    assert root.get("failures") == str(len(bandit) + 1)


def test_json_round_trips_into_a_gate_report(bandit_reports: dict[str, str]) -> None:
    report = GateReport.model_validate_json(bandit_reports["json"])
    assert not report.passed
    by_gate = {r.gate: r for r in report.results}
    assert by_gate["bandit"].status is GateStatus.FAILED
    assert by_gate["bandit"].tool_version
    assert report.model_dump_json(indent=2) == bandit_reports["json"].strip()
    assert report.policy["fail_on"] == "low"


REQUIRED_GATES = ("complexity", "ruff", "secrets", "bandit", "mypy", "semgrep")


def _own_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str
) -> tuple[int, GateReport, str]:
    """Run `assay gate` with a JSON report; return the exit code, the report and what failed."""
    path = tmp_path / "report.json"
    code, _, err = gate(capsys, *argv, "--format", "json", "--output", str(path))
    report = GateReport.model_validate_json(path.read_text())
    failing = [
        f"{r.gate} {r.status}: {r.message}\n"
        + "".join(f"  {f.file}:{f.line}: {f.rule_id} {f.message}\n" for f in r.findings)
        for r in report.results
        if r.status is not GateStatus.PASSED
    ]
    return code, report, err[-2000:] + "".join(failing)[-6000:]


@pytest.mark.slow
def test_assay_gates_its_own_repository(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`assay gate .` on assay's repository passes under its own policy, with no waivers.

    The policy ([tool.assay] in pyproject.toml) excludes only the test fixtures (deliberately bad
    code) and generated benchmark data, and turns the pytest gate off: CI runs the suite itself.
    depaudit is advisory and needs the network, so it is skipped here.
    """
    code, report, output = _own_report(capsys, tmp_path, str(REPO), "--skip", "depaudit")
    assert code == 0, output
    assert report.policy["waivers"] == []
    assert report.policy["gates"]["pytest"]["enabled"] is False
    assert {r.gate: r.status for r in report.results} == dict.fromkeys(
        REQUIRED_GATES, GateStatus.PASSED
    )
    assert all(r.required for r in report.results)


@pytest.mark.slow
def test_assay_gates_its_own_source_under_the_default_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`assay gate src` passes with no configuration at all (issue 2's acceptance check)."""
    empty = tmp_path / "assay.toml"
    empty.write_text('fail_on = "low"\n')  # the default, stated: an assay.toml may not be empty
    code, report, output = _own_report(
        capsys, tmp_path, str(REPO / "src"), "--config", str(empty), "--skip", "depaudit"
    )
    assert code == 0, output
    assert report.policy["waivers"] == [] and report.policy["exclude"] == []
    passed = {r.gate for r in report.results if r.status is GateStatus.PASSED}
    assert passed == set(REQUIRED_GATES)

"""`assay gate --format junit`, read back with junitparser as GitLab and Jenkins would read it:
a suite per gate, a failing case per finding that decides the verdict at its file and line, and
gates without a verdict still visible as error or skipped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from junitparser import Attr, Error, Failure, IntAttr, JUnitXml, Skipped, TestCase, TestSuite

from assay.cli import main
from assay.gates.base import Finding, GateReport, GateResult, GateStatus
from assay.gates.output import source_root, to_junit

APP = '''"""Planted problems."""
import os
import pickle
import subprocess


def run(cmd: str) -> None:
    subprocess.call(cmd, shell=True)


def load(blob: bytes) -> object:
    return pickle.loads(blob)
'''


class LocatedCase(TestCase):
    """A test case with the ``file`` and ``line`` attributes GitLab and Jenkins read."""

    file = Attr()
    line = IntAttr()


def cases(suite: TestSuite) -> list[LocatedCase]:
    # junitparser's documented way to read extra attributes; fromelem has no annotations
    return [LocatedCase.fromelem(case) for case in suite]  # type: ignore[no-untyped-call]


def system_out(suite: TestSuite) -> str:
    """The suite's ``<system-out>`` (junitparser reads it only on test cases)."""
    node = suite._elem.find("system-out")
    return (node.text or "") if node is not None else ""


def suites(text: str) -> dict[str, TestSuite]:
    xml = JUnitXml.fromstring(text.encode())
    return {suite.name: suite for suite in xml}


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``assay gate src`` over a small git project, as JUnit and as JSON."""
    root = tmp_path_factory.mktemp("junit") / "proj"
    (root / "src" / "demo").mkdir(parents=True)
    (root / "src" / "demo" / "__init__.py").write_text('"""Demo."""\n')
    (root / "src" / "demo" / "app.py").write_text(APP)
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    out: dict[str, Any] = {"root": root}
    for fmt in ("junit", "json"):
        target = root.parent / f"report.{fmt}"
        code = main(["gate", str(root / "src"), "--only", "ruff", "--only", "bandit",
                     "--only", "complexity", "--no-cache", "--format", fmt,
                     "--output", str(target)])  # fmt: skip
        assert code == 1
        out[fmt] = target.read_text()
    return out


def test_a_suite_per_gate_inside_testsuites(gated: dict[str, Any]) -> None:
    xml = JUnitXml.fromstring(gated["junit"].encode())
    assert xml._tag == "testsuites"
    by_name = suites(gated["junit"])
    assert set(by_name) == {"assay.gates.ruff", "assay.gates.bandit", "assay.gates.complexity"}
    for suite in by_name.values():
        assert suite.tests == len(cases(suite))
        assert suite.failures == sum(c.is_failure for c in cases(suite))
    assert xml.tests == sum(s.tests for s in by_name.values())


def test_each_blocking_finding_is_a_failing_case_at_its_file_and_line(
    gated: dict[str, Any],
) -> None:
    report = GateReport.model_validate_json(gated["json"])
    by_name = suites(gated["junit"])
    for result in report.results:
        if result.status is not GateStatus.FAILED:
            continue
        failed = cases(by_name[f"assay.gates.{result.gate}"])
        assert all(c.is_failure for c in failed)
        expected = [("src/" + f.file, f.line or 1) for f in result.blocking_findings]
        assert [(c.file, c.line) for c in failed] == expected
        for case, finding in zip(failed, result.blocking_findings, strict=True):
            (failure,) = case.result
            assert isinstance(failure, Failure)
            assert failure.type == finding.rule_id and failure.message == finding.message
            assert case.classname == f"assay.gates.{result.gate}"


def test_bandit_findings_below_the_threshold_are_listed_not_failed(
    gated: dict[str, Any],
) -> None:
    bandit = suites(gated["junit"])["assay.gates.bandit"]
    names = [c.name for c in cases(bandit)]
    assert "B602 at src/demo/app.py:8:5" in names
    assert not any(name.startswith("B404") for name in names)  # low: below fail_on medium
    assert "B404" in system_out(bandit) and "(below medium)" in system_out(bandit)


def test_a_passed_gate_is_one_passing_case(gated: dict[str, Any]) -> None:
    (case,) = cases(suites(gated["junit"])["assay.gates.complexity"])
    assert case.is_passed and case.name == "complexity"


def _result(gate: str, status: GateStatus, message: str, **kw: Any) -> GateResult:
    return GateResult(
        gate=gate, tool=gate, tool_version="1.0", status=status, required=True, duration_s=0.5,
        message=message, **kw,
    )  # fmt: skip


def test_gates_without_a_verdict_stay_visible(tmp_path: Path) -> None:
    waived = Finding(gate="ruff", rule_id="E501", severity="low", file="a.py", line=4,
                     message="line too long", waived_by="generated file")  # fmt: skip
    report = GateReport(
        root=str(tmp_path), passed=False, summary="", duration_s=2.0,
        results=[
            _result("mypy", GateStatus.ERROR, "mypy exited 2: \x1b[31mcrash\x1b[0m\nmore"),
            _result("depaudit", GateStatus.NOT_EVALUATED, "offline"),
            _result("pytest", GateStatus.NOT_APPLICABLE, "nothing to check"),
            _result("ruff", GateStatus.PASSED, "0 finding(s)", findings=[waived]),
        ],
    )  # fmt: skip
    by_name = suites(to_junit(report))  # terminal escapes must not make the XML unreadable
    (error,) = cases(by_name["assay.gates.mypy"])
    assert isinstance(error.result[0], Error) and "crash" in (error.result[0].text or "")
    assert by_name["assay.gates.mypy"].errors == 1
    for gate, status in (("depaudit", "not-evaluated"), ("pytest", "not-applicable")):
        (case,) = cases(by_name[f"assay.gates.{gate}"])
        assert isinstance(case.result[0], Skipped)
        assert (case.result[0].message or "").startswith(status)
    (passed,) = cases(by_name["assay.gates.ruff"])
    assert passed.is_passed
    assert "(waived: generated file)" in system_out(by_name["assay.gates.ruff"])


def test_file_level_and_project_level_findings(tmp_path: Path) -> None:
    """A finding on a whole file points at its line 1; one on the project names the folder."""
    findings = [
        Finding(gate="ruff", rule_id="format", severity="low", file="a.py", message="unformatted"),
        Finding(gate="ruff", rule_id="coverage", severity="high", file="", message="62% < 80%"),
    ]
    report = GateReport(
        root=str(tmp_path), passed=False, summary="", duration_s=1.0,
        results=[_result("ruff", GateStatus.FAILED, "2 finding(s)", findings=findings)],
    )  # fmt: skip
    located = [(c.file, c.line) for c in cases(suites(to_junit(report))["assay.gates.ruff"])]
    where = source_root(str(tmp_path))  # tmp_path itself, unless inside a git work tree
    assert located == [(where.path("a.py"), 1), (where.path(""), None)]


def test_the_json_report_still_round_trips(gated: dict[str, Any]) -> None:
    data = json.loads(gated["json"])
    finding = next(f for r in data["results"] for f in r["findings"])
    assert {"rule", "confidence"} <= set(finding)
    assert GateReport.model_validate(data).model_dump(mode="json") == data

"""Each built-in gate on its fixture project: finds the planted defects, and its finding count
equals what the tool itself reports when run directly on a pristine copy of the same project."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from assay.config import GatePolicy, Settings
from assay.gates.bandit import BanditGate
from assay.gates.base import Gate, GateReport, GateResult, GateStatus
from assay.gates.complexity import ComplexityGate
from assay.gates.depaudit import DepAuditGate
from assay.gates.mypy import MypyGate
from assay.gates.pytest_gate import PytestGate
from assay.gates.ruff import RuffGate
from assay.gates.runner import run_gates
from assay.gates.secrets import SecretsGate

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    return str(BIN / name)


def only(report: GateReport) -> GateResult:
    assert len(report.results) == 1
    return report.results[0]


def direct(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory, gl: SimpleNamespace, osv_url: str
) -> dict[str, Any]:
    """Every built-in gate over its own fixture and over the clean fixture, once per module."""
    base = tmp_path_factory.mktemp("scans")
    osv = Settings(
        gates={"depaudit": GatePolicy.model_validate({"no_deps": True, "osv_url": osv_url})}
    )
    gates: dict[str, tuple[Gate, Settings]] = {
        "mypy": (MypyGate(), Settings()),
        "bandit": (BanditGate(), Settings()),
        "secrets": (SecretsGate(), Settings()),
        "complexity": (ComplexityGate(), Settings()),
        "pytest": (PytestGate(), Settings()),
        "depaudit": (DepAuditGate(), osv),
    }
    out: dict[str, Any] = {}
    jobs = []
    for name, (gate, settings) in gates.items():
        root = gl.copy(name, base / name)
        jobs.append(run_gates(root, settings, [gate], cache_dir=root / ".assay" / "cache"))
        out[f"{name}:pristine"] = gl.copy(name, base / f"{name}-pristine")
    clean = gl.copy("clean", base / "clean")
    every = [RuffGate(), *(g for g, _ in gates.values())]
    jobs.append(run_gates(clean, osv, every, cache_dir=clean / ".assay" / "cache"))

    async def all_at_once() -> list[GateReport]:
        return list(await asyncio.gather(*jobs))

    *reports, out["clean"] = asyncio.run(all_at_once())
    out.update({name: only(report) for name, report in zip(gates, reports, strict=True)})
    return out


def rules(result: GateResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def test_mypy_finds_planted_type_errors(scanned: dict[str, Any]) -> None:
    result = scanned["mypy"]
    assert result.status is GateStatus.FAILED
    assert rules(result) == {"return-value", "no-untyped-def", "arg-type"}
    assert {(f.file, f.line) for f in result.findings} >= {("typed.py", 9), ("typed.py", 12)}
    proc = direct(
        [tool("mypy"), "--strict", "--ignore-missing-imports", "-O", "json", "--cache-dir",
         "/dev/null", "typed.py"],
        scanned["mypy:pristine"],
    )  # fmt: skip
    errors = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert len(result.findings) == sum(e["severity"] == "error" for e in errors) == 3


def test_bandit_finds_planted_issues_and_unparsable_file(scanned: dict[str, Any]) -> None:
    result = scanned["bandit"]
    assert result.status is GateStatus.FAILED
    assert {"B602", "B301", "B307", "parse-error"} <= rules(result)
    assert next(f for f in result.findings if f.rule_id == "B602").severity == "high"
    argv = [tool("bandit"), "-f", "json", "-q", "app.py", "broken.py"]
    proc = direct(argv, scanned["bandit:pristine"])
    data = json.loads(proc.stdout)
    assert len(result.findings) == len(data["results"]) + len(data["errors"])


def test_bandit_low_severity_alone_does_not_fail(project: Any, gl: SimpleNamespace) -> None:
    root = project("clean")
    (root / "calc" / "runner.py").write_text(
        '"""Imports subprocess: a low-severity notice."""\n'
        "import subprocess\n\nRUN = subprocess.run\n"
    )
    result = only(gl.run(root, [BanditGate()]))
    assert result.status is GateStatus.PASSED
    assert "B404" in rules(result)  # reported, but not failing
    assert "B101" not in rules(result)  # the tests' asserts are not reported
    assert all(f.severity == "low" for f in result.findings)


def test_secrets_scans_every_text_file(scanned: dict[str, Any]) -> None:
    result = scanned["secrets"]
    assert result.status is GateStatus.FAILED
    assert {f.file for f in result.findings} == {"settings.py", "deploy.ini", "id_rsa.txt"}
    assert {"aws-access-key", "private-key"} <= rules(result)
    pristine = scanned["secrets:pristine"]
    files = ["deploy.ini", "id_rsa.txt", "settings.py"]  # logo.gif is binary: not scanned
    data = json.loads(direct([tool("detect-secrets"), "scan", *files], pristine).stdout)
    assert len(result.findings) == sum(len(v) for v in data["results"].values())


def test_secrets_baseline_entries_are_not_reported_again(project: Any, gl: SimpleNamespace) -> None:
    root = project("secrets")
    baseline = direct([tool("detect-secrets"), "scan", "deploy.ini"], root).stdout
    (root / ".secrets.baseline").write_text(baseline)
    result = only(gl.run(root, [SecretsGate()]))
    assert {f.file for f in result.findings} == {"settings.py", "id_rsa.txt"}


def test_complexity_reports_functions_above_max(scanned: dict[str, Any]) -> None:
    result = scanned["complexity"]
    assert result.status is GateStatus.FAILED
    assert sorted(f.message for f in result.findings) == [
        "classify has cyclomatic complexity 11 (max 10)",
        "route has cyclomatic complexity 12 (max 10)",
    ]
    assert {(f.rule_id, f.file, f.line) for f in result.findings} == {
        ("cyclomatic-complexity", "tangled.py", 5), ("cyclomatic-complexity", "tangled.py", 33),
    }  # fmt: skip
    # `checked`: 12 asserts and 6 boolean operators (radon: 13), mccabe: 1. Not reported.
    argv = [tool("ruff"), "check", "--isolated", "--select", "C901", "--output-format=json",
            "--no-cache", "tangled.py"]  # fmt: skip
    items = json.loads(direct(argv, scanned["complexity:pristine"]).stdout)
    assert len(result.findings) == len(items) == 2


def test_complexity_limit_is_an_option(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    policy = GatePolicy.model_validate({"max": 20})
    result = only(gl.run(root, [ComplexityGate()], Settings(gates={"complexity": policy})))
    assert result.status is GateStatus.PASSED


def test_pytest_reports_failures_errors_and_coverage(scanned: dict[str, Any]) -> None:
    result = scanned["pytest"]
    assert result.status is GateStatus.FAILED
    by_rule = {f.rule_id: f for f in result.findings}
    assert set(by_rule) == {"test-failed", "test-error", "coverage"}
    failed = by_rule["test-failed"]
    assert (failed.file, failed.line) == ("tests/test_shop.py", 15)
    assert "test_discount_wrong" in failed.message
    assert result.metrics["coverage"] < 80
    assert result.raw_report and Path(result.raw_report).name == "junit.xml"

    pristine = scanned["pytest:pristine"]
    junit = pristine / "direct-junit.xml"
    proc = direct(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
         "--cov=.", "--cov-fail-under=80"],
        pristine,
    )  # fmt: skip
    # pytest's report on our own fixture project
    suite = ET.parse(junit).getroot().find("testsuite")  # nosec B314
    assert suite is not None
    below = "Required test coverage of 80% not reached" in proc.stdout
    expected = int(suite.get("failures", 0)) + int(suite.get("errors", 0)) + int(below)
    assert len(result.findings) == expected == 3


def test_pytest_no_tests_collected_is_not_evaluated(project: Any, gl: SimpleNamespace) -> None:
    result = only(gl.run(project("pytest_empty"), [PytestGate()]))
    assert result.status is GateStatus.NOT_EVALUATED
    assert "collected no tests" in result.message
    assert result.blocking


def test_pytest_without_test_files_does_not_apply(project: Any, gl: SimpleNamespace) -> None:
    result = only(gl.run(project("mypy"), [PytestGate()]))
    assert result.status is GateStatus.NOT_APPLICABLE


def test_depaudit_reports_known_vulnerabilities(scanned: dict[str, Any], osv_url: str) -> None:
    result = scanned["depaudit"]
    assert result.status is GateStatus.FAILED
    assert not result.required  # advisory by default
    [finding] = result.findings
    assert {finding.rule_id} <= {"GHSA-x84v-xcm2-53pg", "CVE-2018-18074"}
    assert "CVE-2018-18074" in finding.rule_id + finding.message
    assert (finding.file, finding.line) == ("requirements.txt", 2)
    assert "2.20.0" in finding.message
    proc = direct(
        [tool("pip-audit"), "-f", "json", "--progress-spinner", "off", "-s", "osv", "--osv-url",
         osv_url, "--no-deps", "--disable-pip", "-r", "requirements.txt"],
        scanned["depaudit:pristine"],
    )  # fmt: skip
    deps = json.loads(proc.stdout)["dependencies"]
    assert len(result.findings) == sum(len(d["vulns"]) for d in deps) == 1


def test_clean_project_passes_every_gate(scanned: dict[str, Any]) -> None:
    report: GateReport = scanned["clean"]
    statuses = {r.gate: r.status for r in report.results}
    assert statuses == dict.fromkeys(
        ["ruff", "complexity", "secrets", "bandit", "mypy", "depaudit", "pytest"], GateStatus.PASSED
    ), [(r.gate, r.message, r.findings) for r in report.results if r.status != "passed"]
    pytest_result = next(r for r in report.results if r.gate == "pytest")
    assert pytest_result.metrics["coverage"] == 100.0
    assert report.passed

"""The bundled rule pack: semgrep's own rule tests pass, and every rule is well formed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from assay.gates.semgrep import RULES_DIR, bundled_rule_files
from tests.conftest import REPO

RULE_TESTS = REPO / "tests" / "fixtures" / "semgrep" / "rules"
SEMGREP = str(Path(sys.executable).parent / "semgrep")
OFFLINE_ENV = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
CATEGORIES = {
    "command_injection",
    "code_injection",
    "sql_injection",
    "deserialization",
    "weak_hash",
    "tls",
    "credentials",
    "debug_mode",
    "path_traversal",
}


def _rules() -> list[tuple[Path, dict[str, Any]]]:
    yaml = YAML(typ="safe", pure=True)
    return [(path, rule) for path in bundled_rule_files() for rule in yaml.load(path)["rules"]]


@pytest.fixture(scope="module")
def rule_test_report() -> dict[str, Any]:
    """One `semgrep --test` run over the whole pack, offline."""
    proc = subprocess.run(
        [SEMGREP, "scan", "--test", "--json", "--metrics=off", "--disable-version-check",
         "--config", str(RULES_DIR), str(RULE_TESTS)],
        capture_output=True, text=True, env=OFFLINE_ENV, timeout=600, check=False,
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    assert proc.returncode == 0, json.dumps(report, indent=1)[:4000]
    return report


def test_semgrep_rule_tests_pass(rule_test_report: dict[str, Any]) -> None:
    assert rule_test_report["config_missing_tests"] == []
    assert rule_test_report["config_with_errors"] == []
    checks = {
        rule_id: check
        for config in rule_test_report["results"].values()
        for rule_id, check in config["checks"].items()
    }
    failed = {rule_id: c["matches"] for rule_id, c in checks.items() if not c["passed"]}
    assert failed == {}
    assert set(checks) == {rule["id"] for _, rule in _rules()}
    for rule_id, check in checks.items():
        reported = [line for m in check["matches"].values() for line in m["reported_lines"]]
        assert reported, f"{rule_id} has no positive case"


def test_every_rule_has_positive_and_negative_cases() -> None:
    for path, rule in _rules():
        text = (RULE_TESTS / f"{path.stem}.py").read_text(encoding="utf-8")
        annotated = re.findall(r"#[ \t]*(ruleid|ok):[ \t]*([\w.,\t -]+)", text)
        kinds = {kind for kind, ids in annotated if rule["id"] in re.split(r"[,\s]+", ids)}
        assert kinds == {"ruleid", "ok"}, f"{rule['id']} lacks a ruleid or an ok case"


def test_pack_covers_every_category() -> None:
    assert {p.stem for p in bundled_rule_files()} == CATEGORIES


def test_every_rule_is_well_formed() -> None:
    ids = [rule["id"] for _, rule in _rules()]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    for path, rule in _rules():
        where = f"{path.name}: {rule['id']}"
        assert rule["id"].startswith("assay."), where
        assert rule["languages"] == ["python"], where
        assert rule["severity"] in {"CRITICAL", "HIGH", "MEDIUM", "LOW"}, where
        assert "fix" not in rule, where
        assert len(rule["message"].split()) >= 12, f"{where}: message too terse"
        cwe = rule["metadata"]["cwe"]
        assert cwe and all(re.match(r"CWE-\d+: \S", c) for c in cwe), where
        assert rule["metadata"]["category"] == "security", where
        # what SARIF viewers show: a title, and links (each CWE's page among them)
        assert 3 <= len(rule["metadata"]["shortDescription"].split()) <= 12, where
        references = rule["metadata"]["references"]
        assert all(url.startswith("https://") for url in references), where
        for number in re.findall(r"CWE-(\d+):", " ".join(cwe)):
            assert f"https://cwe.mitre.org/data/definitions/{number}.html" in references, where


def test_rule_pack_ships_in_the_wheel(tmp_path: Path) -> None:
    """hatch includes the YAML rules (not the rule tests) in the wheel."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("assay-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("assay/gates/rules/")}
    assert shipped == {p.name for p in bundled_rule_files()}

"""The semgrep gate on fixture projects: finds one planted defect per category, passes on the
clean twin, counts what semgrep itself counts, and reports semgrep's own errors."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from assay.config import GatePolicy, Settings
from assay.errors import ConfigError, ToolMissingError
from assay.gates.base import GateContext, GateReport, GateResult, GateStatus
from assay.gates.runner import run_gates
from assay.gates.semgrep import SemgrepGate, SemgrepOptions, bundled_rule_files, semgrep_version
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "semgrep"
SEMGREP = str(Path(sys.executable).parent / "semgrep")
OFFLINE_ENV = {**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}

# (rule, file, line) of every defect planted in the vulnerable fixture, one per category; the
# weak password hash is also a plain weak hash (advisory, low).
PLANTED = {
    ("assay.hardcoded-credential", "notes/config.py", 4),
    ("assay.sql-injection-string-building", "notes/storage.py", 16),
    ("assay.weak-hash-for-credentials", "notes/storage.py", 20),
    ("assay.weak-hash", "notes/storage.py", 20),
    ("assay.pickle-deserialization", "notes/storage.py", 24),
    ("assay.path-traversal-open", "notes/web.py", 23),
    ("assay.eval-exec-injection", "notes/web.py", 29),
    ("assay.subprocess-shell-injection", "notes/web.py", 35),
    ("assay.tls-verification-disabled", "notes/web.py", 41),
    ("assay.flask-debug-enabled", "notes/web.py", 45),
}


def copy(name: str, dest: Path) -> Path:
    shutil.copytree(FIXTURES / name, dest)
    return dest


def gate_run(root: Path, settings: Settings | None = None, **kw: Any) -> GateResult:
    kw.setdefault("cache_dir", root / ".assay" / "cache")
    report: GateReport = asyncio.run(run_gates(root, settings or Settings(), [SemgrepGate()], **kw))
    (result,) = report.results
    return result


def with_options(**options: Any) -> Settings:
    return Settings(gates={"semgrep": GatePolicy.model_validate(options)})


def semgrep_directly(root: Path, *configs: Path) -> dict[str, Any]:
    """semgrep as a user would run it on the project, offline, with the same rule files."""
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    argv = [SEMGREP, "scan", "--json", "--quiet", "--metrics=off", "--disable-version-check",
            "--no-rewrite-rule-ids"]  # fmt: skip
    for config in configs:
        argv += ["--config", str(config)]
    proc = subprocess.run(
        [*argv, *files], cwd=root, capture_output=True, text=True, env=OFFLINE_ENV,
        timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def vulnerable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GateResult]:
    root = copy("vulnerable", tmp_path_factory.mktemp("semgrep") / "vulnerable")
    return root, gate_run(root)


def test_finds_one_planted_defect_per_category(vulnerable: tuple[Path, GateResult]) -> None:
    _, result = vulnerable
    assert result.status is GateStatus.FAILED
    assert result.tool == "semgrep" and result.tool_version
    found = {(f.rule_id, f.file, f.line) for f in result.findings}
    assert found == PLANTED
    by_rule = {f.rule_id: f for f in result.findings}
    assert by_rule["assay.sql-injection-string-building"].severity == "high"
    assert by_rule["assay.weak-hash"].severity == "low"
    assert by_rule["assay.pickle-deserialization"].message.endswith("[CWE-502]")
    assert all(f.column > 0 and f.fingerprint for f in result.findings)
    assert result.raw_report and Path(result.raw_report).is_file()


def test_finding_count_equals_semgrep_run_directly(
    vulnerable: tuple[Path, GateResult], tmp_path: Path
) -> None:
    _, result = vulnerable
    pristine = copy("vulnerable", tmp_path / "pristine")
    direct = semgrep_directly(pristine, *bundled_rule_files())
    assert direct["errors"] == []
    assert len(result.findings) == len(direct["results"])
    assert Counter(f.rule_id for f in result.findings) == Counter(
        r["check_id"] for r in direct["results"]
    )


def test_unchanged_files_are_not_rescanned(vulnerable: tuple[Path, GateResult]) -> None:
    root, first = vulnerable
    again = gate_run(root)
    assert again.cached and again.files_scanned == 0
    assert again.findings == first.findings
    config = root / "notes" / "config.py"
    config.write_text(config.read_text() + "\nDEBUG = False\n")
    changed = gate_run(root)
    assert changed.files_scanned == 1 and not changed.cached
    assert {(f.rule_id, f.file, f.line) for f in changed.findings} == PLANTED


def test_clean_twin_passes_with_no_findings(tmp_path: Path) -> None:
    result = gate_run(copy("clean", tmp_path / "clean"))
    assert result.status is GateStatus.PASSED, result.message
    assert result.findings == []


def test_assay_own_source_is_clean(tmp_path: Path) -> None:
    """No false positives on our own code (scanned in place; only the report goes to tmp)."""
    root = REPO / "src"
    files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")))
    ctx = GateContext(root=root, files=files, options=SemgrepOptions().model_dump(),
                      report_dir=tmp_path)  # fmt: skip
    scan = asyncio.run(SemgrepGate().scan(ctx, files))
    assert scan.error is None
    assert [(f.rule_id, f.file, f.line) for f in scan.findings] == []


def test_project_rules_nosemgrep_and_partial_parses(tmp_path: Path) -> None:
    """Project rules run beside the pack; `# nosemgrep` is ignored unless allowed; a file semgrep
    cannot fully parse leaves a visible finding, never a silent pass."""
    root = tmp_path / "proj"
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "no-print.yaml").write_text(
        "rules:\n  - id: house.no-print\n    languages: [python]\n    severity: WARNING\n"
        "    message: use logging\n    metadata: {cwe: ['CWE-532: log']}\n"
        "    pattern: print(...)\n"
    )
    (root / "app.py").write_text(
        "def run(expr: str) -> None:\n"
        "    print(eval(expr))  # nosemgrep\n"
    )  # fmt: skip
    (root / "garbled.py").write_bytes(b"x = eval(input())\n\xff\xfe\x00garbage\n")
    result = gate_run(root, with_options(rules=["rules/no-print.yaml"]))
    found = {(f.rule_id, f.severity, f.file, f.line) for f in result.findings}
    assert found == {
        ("house.no-print", "medium", "app.py", 2),
        ("assay.eval-exec-injection", "high", "app.py", 2),
        ("assay.eval-exec-injection", "high", "garbled.py", 1),
        ("semgrep.partial-parsing", "low", "garbled.py", 2),
    }
    assert result.status is GateStatus.FAILED
    partial = next(f for f in result.findings if f.rule_id == "semgrep.partial-parsing")
    assert "could not fully analyse" in partial.message

    (root / "garbled.py").unlink()
    honoured = gate_run(root, with_options(bundled=False, rules=["rules"], nosemgrep=True))
    assert honoured.findings == [] and honoured.status is GateStatus.PASSED


def test_bad_rule_is_an_error_with_semgreps_message(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text("x = 1\n")
    (root / "broken.yaml").write_text(
        "rules:\n  - id: house.broken\n    languages: [python]\n    severity: ERROR\n"
        "    message: m\n    pattern: eval(\n"
    )
    result = gate_run(root, with_options(bundled=False, rules=["broken.yaml"]))
    assert result.status is GateStatus.ERROR
    assert "house.broken" in result.message and "Invalid pattern" in result.message


def test_missing_rule_file_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text("x = 1\n")
    result = gate_run(root, with_options(rules=["nowhere.yaml"]))
    assert result.status is GateStatus.ERROR
    assert "nowhere.yaml" in result.message


def test_no_rules_at_all_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"tool\.assay\.gates\.semgrep.*no rules to run"):
        gate_run(tmp_path, with_options(bundled=False))


def test_unknown_option_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"tool\.assay\.gates\.semgrep\.ruleset"):
        gate_run(tmp_path, with_options(ruleset=["x"]))


def test_no_python_means_not_applicable(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# nothing to scan\n")
    (tmp_path / "types.pyi").write_text("x: int\n")
    assert gate_run(tmp_path).status is GateStatus.NOT_APPLICABLE


def test_version_without_the_online_check(tmp_path: Path) -> None:
    """The venv's semgrep is read from metadata; another one is asked, with the check off."""
    assert SemgrepGate().version() == importlib.metadata.version("semgrep")
    elsewhere = tmp_path / "bin" / "semgrep"
    elsewhere.parent.mkdir()
    elsewhere.symlink_to(SEMGREP)
    assert semgrep_version(str(elsewhere)) == importlib.metadata.version("semgrep")
    with pytest.raises(ToolMissingError, match="nowhere"):
        semgrep_version(str(tmp_path / "nowhere" / "semgrep"))


def test_editing_a_project_rule_file_invalidates_the_cache(tmp_path: Path) -> None:
    """A project's own rule file is part of the cache key, like the tool's config."""
    root = tmp_path / "proj"
    (root / "rules").mkdir(parents=True)
    (root / "app.py").write_text("print('hello')\n")
    rule = "rules:\n  - id: house.no-{0}\n    languages: [python]\n    severity: WARNING\n"
    rule += "    message: no {0}\n    pattern: {0}(...)\n"
    (root / "rules" / "house.yaml").write_text(rule.format("input"))
    settings = with_options(bundled=False, rules=["rules"])
    first = gate_run(root, settings)
    assert first.findings == [] and not first.cached
    assert gate_run(root, settings).cached
    (root / "rules" / "house.yaml").write_text(rule.format("print"))
    edited = gate_run(root, settings)
    assert not edited.cached
    assert [f.rule_id for f in edited.findings] == ["house.no-print"]

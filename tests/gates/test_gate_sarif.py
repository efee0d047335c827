"""`assay gate --format sarif` beside the SARIF ruff, bandit and semgrep write themselves.

One small git project with planted problems is gated as ``assay gate src`` and scanned by each
tool's own SARIF output from the repository root. Our runs must name the same rules at the same
files and lines, with URIs relative to the repository root, and describe every rule at least as
well as the tool does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jsonschema
import pytest

from assay.cli import main
from assay.gates.base import Finding, GateReport, GateResult, GateStatus, RuleInfo, fingerprint
from assay.gates.cache import GateCache, GateCacheEntry, entry_mac
from assay.gates.output import sarif_document, source_root
from assay.gates.semgrep import bundled_rule_files
from tests.conftest import SARIF_SCHEMA

BIN = Path(sys.executable).parent
SELECT = "E,F,W,I,S,B"
APP = '''"""Planted problems, one per line."""
import os
import pickle
import subprocess
import hashlib

PASSWORD = "hunter2secret"  # pragma: allowlist secret


def run(cmd: str) -> None:
    subprocess.call(cmd, shell=True)


def load(blob: bytes) -> object:
    return pickle.loads(blob)


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def calc(expr):
    return eval(expr)
'''
GATES = ("ruff", "bandit", "semgrep", "mypy")
CWE_TAG = re.compile(r"external/cwe/cwe-\d+")


def _git_project(root: Path) -> Path:
    (root / "src" / "demo").mkdir(parents=True)
    (root / "src" / "demo" / "__init__.py").write_text('"""Demo."""\n')
    (root / "src" / "demo" / "app.py").write_text(APP)
    (root / "assay.toml").write_text(
        f"[gates.ruff]\nformat = false\nselect = {json.dumps(SELECT.split(','))}\n"
    )
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    return root


def _native(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert proc.stdout, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


@pytest.fixture(scope="module")
def sarif(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Our SARIF and JSON of ``assay gate src``, and each tool's own SARIF, for one project."""
    root = _git_project(tmp_path_factory.mktemp("sarif") / "proj")
    out: dict[str, Any] = {"root": root}
    only = [x for gate in GATES for x in ("--only", gate)]
    for fmt in ("sarif", "json"):
        target = root.parent / f"report.{fmt}"
        code = main(["gate", str(root / "src"), *only, "--no-cache", "--format", fmt,
                     "--output", str(target)])  # fmt: skip
        assert code == 1
        out[fmt] = json.loads(target.read_text())
    logs = root.parent / "semgrep-home"
    logs.mkdir()
    configs = [x for path in bundled_rule_files() for x in ("--config", str(path))]
    out["native"] = {
        "ruff": _native(
            [str(BIN / "ruff"), "check", "--isolated", "--select", SELECT, "--no-cache",
             "--exit-zero", "--output-format", "sarif", "src"], root,
        ),
        "bandit": _native([str(BIN / "bandit"), "-f", "sarif", "-q", "-r", "src"], root),
        # --no-rewrite-rule-ids as the gate runs it: otherwise the ids carry the rules' folder
        "semgrep": _native(
            [str(BIN / "semgrep"), "scan", "--sarif", "--metrics=off", "--disable-version-check",
             "--no-rewrite-rule-ids", "--no-git-ignore", "--oss-only", "--quiet", *configs,
             "src"], root,
            env={"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off",
                 "SEMGREP_SETTINGS_FILE": str(logs / "settings.yml"),
                 "SEMGREP_LOG_FILE": str(logs / "semgrep.log")},
        ),
    }  # fmt: skip
    return out


def ours(sarif: dict[str, Any], gate: str) -> dict[str, Any]:
    (run,) = [r for r in sarif["sarif"]["runs"] if r["properties"]["assayGate"] == gate]
    found: dict[str, Any] = run
    return found


def theirs(sarif: dict[str, Any], tool: str) -> dict[str, Any]:
    (run,) = sarif["native"][tool]["runs"]
    found: dict[str, Any] = run
    return found


def _uri(location: dict[str, Any], root: Path) -> str:
    uri = str(location["artifactLocation"]["uri"])
    if uri.startswith("file://"):  # ruff writes absolute URIs
        return Path(unquote(urlparse(uri).path)).relative_to(root.resolve()).as_posix()
    return unquote(uri)


def located(run: dict[str, Any], root: Path) -> set[tuple[str, str, int]]:
    """(rule, repository-relative path, start line) of every result."""
    out = set()
    for result in run["results"]:
        physical = result["locations"][0]["physicalLocation"]
        out.add((result["ruleId"], _uri(physical, root), physical["region"]["startLine"]))
    return out


def rules(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["id"]: rule for rule in run["tool"]["driver"].get("rules", [])}


def _cwe_tags(tags: list[str]) -> set[str]:
    """Tags in GitHub's form: semgrep's ``CWE-95: ...`` becomes ``external/cwe/cwe-95``."""
    out = set()
    for tag in tags:
        match = re.match(r"CWE-(\d+)", tag)
        if match:
            out.add(f"external/cwe/cwe-{match.group(1)}")
        elif tag == "security" or CWE_TAG.fullmatch(tag):
            out.add(tag)
    return out


def test_validates_against_the_sarif_schema(sarif: dict[str, Any]) -> None:
    schema = json.loads(SARIF_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(sarif["sarif"]), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert {r["properties"]["assayGate"] for r in sarif["sarif"]["runs"]} == set(GATES)


@pytest.mark.parametrize("tool", ["ruff", "bandit", "semgrep"])
def test_same_rules_files_and_lines_as_the_tool(sarif: dict[str, Any], tool: str) -> None:
    mine = located(ours(sarif, tool), sarif["root"])
    assert mine == located(theirs(sarif, tool), sarif["root"])
    assert {path for _, path, _ in mine} == {"src/demo/app.py"}


def test_uris_are_relative_to_the_repository_root(sarif: dict[str, Any]) -> None:
    """`assay gate src` anchors paths at the git root, not at src/."""
    root_uri = Path(sarif["root"]).resolve().as_uri() + "/"
    for run in sarif["sarif"]["runs"]:
        assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": root_uri}}
        for result in run["results"]:
            artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
            assert artifact == {"uri": "src/demo/app.py", "uriBaseId": "%SRCROOT%"}


def _as_described(rule: dict[str, Any], their: dict[str, Any]) -> None:
    """`rule` (ours) says at least what `their` descriptor of the same rule says."""
    if their.get("name"):
        assert rule["name"]
    if their.get("helpUri"):
        assert rule["helpUri"] == their["helpUri"]
    for key in ("shortDescription", "fullDescription"):
        if key in their:
            assert rule[key]["text"], key
    if "help" in their:
        assert rule["help"]["text"] and rule["help"]["markdown"]
    their_tags = their.get("properties", {}).get("tags", [])
    assert _cwe_tags(their_tags) <= set(rule["properties"]["tags"])
    if any(tag.endswith(" CONFIDENCE") for tag in their_tags):  # semgrep's way to say it
        assert rule["properties"]["precision"] in ("low", "medium", "high")


@pytest.mark.parametrize("tool", ["ruff", "bandit", "semgrep"])
def test_rules_described_at_least_as_well_as_by_the_tool(sarif: dict[str, Any], tool: str) -> None:
    run = theirs(sarif, tool)
    reported = {result["ruleId"] for result in run["results"]}
    # semgrep lists every rule it ran; compare the rules that reported something
    native = {rule_id: rule for rule_id, rule in rules(run).items() if rule_id in reported}
    mine = rules(ours(sarif, tool))
    assert set(native) == set(mine)
    for rule_id, their in native.items():
        try:
            _as_described(mine[rule_id], their)
        except AssertionError as exc:
            raise AssertionError(f"{tool} {rule_id}: {exc}") from exc


def test_every_rule_is_fully_described(sarif: dict[str, Any]) -> None:
    for run in sarif["sarif"]["runs"]:
        for rule_id, rule in rules(run).items():
            assert rule["name"] and rule["shortDescription"]["text"], rule_id
            assert rule["fullDescription"]["text"], rule_id
            assert rule["help"]["text"] and rule["help"]["markdown"], rule_id
            assert rule["helpUri"].startswith("https://"), rule_id


def test_help_uris_come_from_the_tools(sarif: dict[str, Any]) -> None:
    assert rules(ours(sarif, "ruff"))["F401"]["helpUri"] == (
        "https://docs.astral.sh/ruff/rules/unused-import"
    )
    assert rules(ours(sarif, "bandit"))["B602"]["helpUri"].startswith(
        "https://bandit.readthedocs.io/"
    )
    assert rules(ours(sarif, "mypy"))["no-untyped-def"]["helpUri"] == (
        "https://mypy.rtfd.io/en/stable/_refs.html#code-no-untyped-def"
    )
    semgrep_rule = rules(ours(sarif, "semgrep"))["assay.hardcoded-credential"]
    assert "https://cwe.mitre.org/data/definitions/798.html" in semgrep_rule["help"]["markdown"]


def test_security_rules_carry_cwe_tags_and_security_severity(sarif: dict[str, Any]) -> None:
    for gate in ("bandit", "semgrep"):
        run = ours(sarif, gate)
        for rule_id, rule in rules(run).items():
            tags = rule["properties"]["tags"]
            assert "security" in tags and any(CWE_TAG.fullmatch(t) for t in tags), rule_id
            assert re.fullmatch(r"\d+\.\d", rule["properties"]["security-severity"]), rule_id
        for result in run["results"]:
            score = float(result["properties"]["security-severity"])
            assert 0.0 <= score <= 10.0
    # ruff's flake8-bandit rules are security rules too (ruff gives no CWE)
    s105 = rules(ours(sarif, "ruff"))["S105"]
    assert "security" in s105["properties"]["tags"] and "security-severity" in s105["properties"]


def _levels(run: dict[str, Any]) -> dict[str, str]:
    return {r["ruleId"]: r["level"] for r in run["results"]}


def test_levels_follow_the_findings_weight(sarif: dict[str, Any]) -> None:
    ruff, mypy = _levels(ours(sarif, "ruff")), _levels(ours(sarif, "mypy"))
    assert ruff["F401"] == "warning" and ruff["I001"] == "note"  # "suspicious" vs "style"
    assert set(ruff.values()) | set(mypy.values()) <= {"warning", "note"}
    bandit = _levels(ours(sarif, "bandit"))
    assert bandit["B602"] == "error"  # HIGH severity, HIGH confidence
    assert bandit["B105"] == "warning"  # a hard-coded password is no mere note
    assert bandit["B404"] == "note"  # "consider the implications of importing subprocess"
    semgrep = _levels(ours(sarif, "semgrep"))
    assert semgrep["assay.hardcoded-credential"] == "error"
    assert semgrep["assay.weak-hash"] == "note"
    b602 = next(r for r in ours(sarif, "bandit")["results"] if r["ruleId"] == "B602")
    assert b602["properties"]["security-severity"] == "7.9"  # high band, high confidence


def test_fingerprints_are_the_runners(sarif: dict[str, Any]) -> None:
    """partialFingerprints are the findings' own fingerprints: rule, gated-root-relative file
    and the line's text, whatever metadata the findings carry now."""
    report = GateReport.model_validate(sarif["json"])
    lines = (sarif["root"] / "src" / "demo" / "app.py").read_text().splitlines()
    for result in report.results:
        run = ours(sarif, result.gate)
        prints = [r["partialFingerprints"]["assayFingerprint/v1"] for r in run["results"]]
        assert prints == [f.fingerprint for f in result.findings]
        for f in result.findings:
            assert f.fingerprint == fingerprint(f.rule_id, f.file, lines[f.line - 1]), f


def _report(root: str, findings: list[Finding], status: GateStatus) -> GateReport:
    result = GateResult(
        gate="ruff", tool="ruff", tool_version="1", status=status, required=True,
        duration_s=0.1, findings=findings, message="1 finding(s)",
    )  # fmt: skip
    return GateReport(root=root, passed=False, summary="", results=[result], duration_s=0.1)


def test_outside_a_repository_paths_are_relative_to_the_gated_folder(tmp_path: Path) -> None:
    finding = Finding(gate="ruff", rule_id="F401", severity="medium", file="pkg/a.py", line=3,
                      message="unused", fingerprint="f" * 32)  # fmt: skip
    (tmp_path / "pkg").mkdir()
    if source_root(str(tmp_path)).base != tmp_path:
        pytest.skip("the temporary folder is inside a git work tree")
    doc = sarif_document(_report(str(tmp_path), [finding], GateStatus.FAILED))
    (run,) = doc["runs"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"
    location = run["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pkg/a.py"


def test_source_root(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src" / "pkg").mkdir(parents=True)
    nested = source_root(str(tmp_path / "repo" / "src" / "pkg"))
    assert (nested.base, nested.prefix) == (tmp_path / "repo", "src/pkg")
    assert nested.path("a.py") == "src/pkg/a.py" and nested.path("") == "src/pkg"
    top = source_root(str(tmp_path / "repo"))
    assert (top.base, top.prefix, top.uri("a b.py")) == (tmp_path / "repo", "", "a%20b.py")
    # a report read back elsewhere: never anchored at the current directory or a parent repo
    assert source_root("workspace").base is None
    gone = tmp_path / "repo" / "runs" / "gone"
    assert (source_root(str(gone)).base, source_root(str(gone)).prefix) == (gone, "")


def test_findings_cached_before_the_metadata_still_load(tmp_path: Path) -> None:
    """A cache entry written before findings carried rule metadata loads with defaults, and
    its SARIF still describes each rule."""
    old = {"gate": "ruff", "rule_id": "F401", "severity": "high", "file": "a.py", "line": 1,
           "column": 8, "message": "`os` imported but unused", "fingerprint": "0" * 32,
           "waived_by": None}  # fmt: skip
    data = {"key": "k", "findings": [old]}
    key = os.urandom(32)
    (tmp_path / "ruff.json").write_text(
        json.dumps({"mac": entry_mac(key, "ruff", data), "entry": data})
    )
    entry = GateCache(tmp_path, key).load("ruff", "k").entry
    assert isinstance(entry, GateCacheEntry)
    (finding,) = entry.findings
    assert finding.rule == RuleInfo() and finding.confidence is None
    doc = sarif_document(_report(str(tmp_path), [finding], GateStatus.FAILED))
    (rule,) = doc["runs"][0]["tool"]["driver"]["rules"]
    assert rule["name"] == "F401" and rule["help"]["markdown"] and rule["shortDescription"]
    assert doc["runs"][0]["results"][0]["partialFingerprints"] == {"assayFingerprint/v1": "0" * 32}

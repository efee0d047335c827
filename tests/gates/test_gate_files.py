"""Gating only some files (``assay gate FILE...``, what a pre-commit hook passes): which project
root the files belong to, which of them are checked, what whole-project gates do, that files
which were not named are never checked, and that the cache stays right across selections."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from assay.cli import main
from assay.config import GatePolicy, Settings
from assay.errors import UserError
from assay.gates.bandit import BanditGate
from assay.gates.base import Gate, GateContext, GateReport, GateResult, GateStatus, Scan
from assay.gates.collect import Target, resolve_target, select_files
from assay.gates.complexity import ComplexityGate
from assay.gates.depaudit import DepAuditGate
from assay.gates.mypy import MypyGate
from assay.gates.pytest_gate import PytestGate
from assay.gates.ruff import RuffGate
from assay.gates.secrets import SecretsGate

CLEAN = "def add(a: int, b: int) -> int:\n    return a + b\n"
BAD = "import os\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n"  # F401
# Built at run time so that the literals in this file are not themselves secrets.
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
INI_LOGIN = "pass" + "word = Sup3rS3cretPassw0rdValue\n"
SHA = hashlib.sha256(b"a commit").hexdigest()[:40]
TOKEN = hashlib.sha256(b"a token").hexdigest()[:40]


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def static_gates() -> list[Gate]:
    return [RuffGate(), ComplexityGate(), SecretsGate(), BanditGate()]


def by_gate(report: GateReport) -> dict[str, GateResult]:
    return {r.gate: r for r in report.results}


def files_named(report: GateReport) -> set[str]:
    return {f.file for f in report.findings}


class CountingComplexity(ComplexityGate):
    """The real complexity gate, recording what the tool actually ran on."""

    def __init__(self) -> None:
        self.scans: list[list[str]] = []

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        self.scans.append(list(files))
        return await super().scan(ctx, files)


# -- which project, which files -------------------------------------------------------------------


def test_one_folder_is_the_whole_project(tmp_path: Path) -> None:
    write(tmp_path, {"src/a.py": CLEAN})
    assert resolve_target([tmp_path / "src"], cwd=tmp_path) == Target(tmp_path / "src")
    assert resolve_target([], cwd=tmp_path) == Target(tmp_path)


def test_files_belong_to_the_project_of_the_nearest_config(tmp_path: Path) -> None:
    proj = write(
        tmp_path / "proj", {"assay.toml": 'fail_on = "low"\n', "src/pkg/a.py": CLEAN, "b.py": CLEAN}
    )
    (tmp_path / ".git").mkdir()  # the config, not the repository, marks the project
    target = resolve_target([Path("proj/src/pkg/a.py"), Path("proj/b.py")], cwd=tmp_path)
    assert target == Target(proj, ("src/pkg/a.py", "b.py"))
    # A pyproject.toml with a [tool.assay] table counts; one without does not.
    write(tmp_path / "other", {"pyproject.toml": "[tool.ruff]\n", "a.py": CLEAN})
    assert resolve_target([tmp_path / "other" / "a.py"]).root == tmp_path
    write(tmp_path / "third", {"pyproject.toml": "[tool.assay]\n", "a.py": CLEAN})
    assert resolve_target([tmp_path / "third" / "a.py"]).root == tmp_path / "third"


def test_without_a_config_the_git_work_tree_then_the_current_folder(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"pkg/a.py": CLEAN})
    (repo / ".git").mkdir()
    assert resolve_target([repo / "pkg" / "a.py"], cwd=tmp_path) == Target(repo, ("pkg/a.py",))
    plain = write(tmp_path / "plain", {"deep/a.py": CLEAN})
    assert resolve_target([Path("deep/a.py")], cwd=plain) == Target(plain, ("deep/a.py",))
    # Outside the current folder: the files' own folder.
    assert resolve_target([plain / "deep" / "a.py"], cwd=repo).root == plain / "deep"


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"path does not exist: gone\.py"):
        resolve_target([Path("gone.py")], cwd=tmp_path)


def test_named_files_are_filtered_as_the_walk_filters(tmp_path: Path) -> None:
    root = write(
        tmp_path / "proj",
        {
            "a.py": CLEAN,
            "pkg/b.py": CLEAN,
            "pkg/data/c.txt": "x",
            "tests/fixtures/bad.py": BAD,
            ".venv/lib/x.py": BAD,
            "tagged/CACHEDIR.TAG": "",
            "tagged/y.py": BAD,
        },
    )
    named = ["a.py", "./pkg", "tests/fixtures/bad.py", ".venv/lib/x.py", "tagged/y.py", "../a.py"]
    assert select_files(root, named, ["tests/fixtures"]) == [
        "a.py",
        "pkg/b.py",
        "pkg/data/c.txt",
    ]
    assert select_files(root, [str(root / "pkg" / "b.py"), "/elsewhere/b.py"]) == ["pkg/b.py"]
    link = tmp_path / "link"
    link.symlink_to(root / "pkg", target_is_directory=True)
    assert select_files(root, [str(link / "b.py")]) == ["pkg/b.py"]


# -- what is checked ------------------------------------------------------------------------------


def test_a_file_on_disk_that_was_not_named_is_not_checked(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(
        tmp_path,
        {"clean.py": CLEAN, "stray.py": BAD + f'KEY = "{AWS_KEY}"\n', "notes.ini": INI_LOGIN},
    )
    report = gl.run(root, static_gates(), files=["clean.py"])
    assert report.passed, report.summary
    assert files_named(report) == set()
    assert {r.files_scanned for r in report.results} == {1}
    # The same gates over the whole project find the stray file's problems.
    whole = gl.run(root, static_gates(), cache_dir=None)
    assert not whole.passed
    assert files_named(whole) == {"stray.py", "notes.ini"}


def test_a_named_bad_file_fails_naming_it(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = write(tmp_path, {"clean.py": CLEAN, "bad.py": BAD})
    report = gl.run(root, static_gates(), files=["clean.py", "bad.py"])
    assert not report.passed
    ruff = by_gate(report)["ruff"]
    assert ruff.status is GateStatus.FAILED
    assert {(f.file, f.rule_id) for f in ruff.findings} == {("bad.py", "F401")}


def test_a_secret_in_a_named_non_python_file_is_found(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = write(tmp_path, {"app.py": CLEAN, "deploy.yaml": f"aws_key: {AWS_KEY}\n"})
    result = by_gate(gl.run(root, static_gates(), files=["deploy.yaml"]))["secrets"]
    assert result.status is GateStatus.FAILED
    assert {f.file for f in result.findings} == {"deploy.yaml"}


def test_a_selection_with_nothing_to_check_passes(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = write(tmp_path, {"app.py": BAD, "logo.gif": b"GIF89a\0\0", "tests/fixtures/x.py": BAD})
    settings = Settings(exclude=["tests/fixtures"])
    report = gl.run(root, static_gates(), settings, files=["logo.gif", "tests/fixtures/x.py"])
    assert report.passed
    assert report.summary == "nothing to check in the selected files"
    assert {r.status for r in report.results} == {GateStatus.NOT_APPLICABLE}


def test_mypy_checks_the_named_files_and_reports_only_theirs(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(
        tmp_path,
        {
            "a.py": "from b import f\n\nx: int = f()\n",
            "b.py": "def f() -> int:\n    return 1\n\n\ny: str = 1\n",  # an error of b's own
        },
    )
    first = by_gate(gl.run(root, [MypyGate()], files=["a.py"]))["mypy"]
    assert first.status is GateStatus.PASSED, first.findings
    assert first.files_scanned == 1
    whole = by_gate(gl.run(root, [MypyGate()]))["mypy"]
    assert {f.file for f in whole.findings} == {"b.py"}
    # b changes so that a no longer type-checks: a.py is unchanged, yet nothing stale is reused.
    (root / "b.py").write_text("def f() -> str:\n    return ''\n", encoding="utf-8")
    second = by_gate(gl.run(root, [MypyGate()], files=["a.py"]))["mypy"]
    assert (second.status, second.cached) == (GateStatus.FAILED, False)
    assert {(f.file, f.line) for f in second.findings} == {("a.py", 3)}
    # Unchanged since: a cache hit, and the whole-project result was kept beside it.
    assert by_gate(gl.run(root, [MypyGate()], files=["a.py"]))["mypy"].cached
    assert not by_gate(gl.run(root, [MypyGate()]))["mypy"].cached  # b changed since
    assert by_gate(gl.run(root, [MypyGate()], files=["a.py"]))["mypy"].cached


def test_pytest_and_depaudit_run_on_a_selection_only_when_asked(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(
        tmp_path,
        {
            "calc.py": CLEAN,
            "test_calc.py": "from calc import add\n\n\ndef test_add() -> None:\n"
            "    assert add(1, 2) == 3\n",
            "requirements.txt": "requests==2.32.3\n",
            "pytest.ini": "[pytest]\n",
        },
    )
    settings = Settings(gates={"pytest": GatePolicy.model_validate({"coverage": 0})})
    gates: list[Gate] = [PytestGate(), DepAuditGate()]
    report = gl.run(root, gates, settings, files=["calc.py", "test_calc.py", "requirements.txt"])
    for result in report.results:
        assert result.status is GateStatus.NOT_APPLICABLE
        assert "--only" in result.message
    assert report.passed
    asked = gl.run(root, [PytestGate()], settings, files=["calc.py"], requested=["pytest"])
    result = by_gate(asked)["pytest"]
    assert result.status is GateStatus.PASSED, result.message
    assert result.metrics["tests"] == 1  # the whole suite ran, though only calc.py was named


# -- the cache ------------------------------------------------------------------------------------


def test_per_file_cache_is_shared_between_selections_and_whole_runs(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(tmp_path, {"a.py": CLEAN, "b.py": CLEAN, "c.py": CLEAN})
    gate = CountingComplexity()
    gl.run(root, [gate])
    assert gate.scans == [["a.py", "b.py", "c.py"]]
    for rel in ("a.py", "b.py"):
        (root / rel).write_text(CLEAN + "\n\ndef g() -> int:\n    return 2\n", encoding="utf-8")
    picked = by_gate(gl.run(root, [gate], files=["a.py"]))["complexity"]
    assert (gate.scans[-1], picked.files_scanned) == (["a.py"], 1)
    again = by_gate(gl.run(root, [gate], files=["a.py", "c.py"]))["complexity"]
    assert (again.cached, again.files_scanned, len(gate.scans)) == (True, 0, 2)
    # The selection kept b's and c's entries: the whole run rescans only b, which changed.
    whole = by_gate(gl.run(root, [gate]))["complexity"]
    assert (gate.scans[-1], whole.files_scanned) == (["b.py"], 1)
    fresh = by_gate(gl.run(root, [ComplexityGate()], cache_dir=None))["complexity"]
    assert whole.findings == fresh.findings and whole.status is fresh.status


def test_cached_findings_outside_the_selection_are_not_reported(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(tmp_path, {"clean.py": CLEAN, "bad.py": BAD})
    assert not gl.run(root, [RuffGate()]).passed  # bad.py's finding is now in the cache
    report = gl.run(root, [RuffGate()], files=["clean.py"])
    assert (report.passed, report.results[0].cached) == (True, True)
    assert files_named(report) == set()


# -- the secrets gate and pinned revisions ---------------------------------------------------------


def pre_commit_config(*extra: str) -> str:
    lines = [
        "repos:",
        "  - repo: https://github.com/assay-dev/assay",
        f"    rev: {SHA}",
        "    hooks:",
        "      - id: assay-gate",
        "  - repo: https://github.com/astral-sh/ruff-pre-commit",
        f"    rev: '{SHA[::-1]}'  # frozen: v0.9.0",
        "    hooks:",
        "      - id: ruff",
        *extra,
    ]
    return "\n".join(lines) + "\n"


def secrets_findings(root: Path, gl: SimpleNamespace, rel: str) -> list[tuple[int, str]]:
    result = by_gate(gl.run(root, [SecretsGate()], files=[rel], cache_dir=None))["secrets"]
    assert result.status in (GateStatus.PASSED, GateStatus.FAILED), result.message
    return sorted((f.line, f.rule_id) for f in result.findings)


def test_a_pinned_rev_in_a_pre_commit_config_is_not_a_secret(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = write(tmp_path, {".pre-commit-config.yaml": pre_commit_config()})
    assert secrets_findings(root, gl, ".pre-commit-config.yaml") == []
    # The same pins are flagged where they are not pins of a pre-commit config.
    write(root, {"pins.yaml": pre_commit_config()})
    assert secrets_findings(root, gl, "pins.yaml") == [
        (3, "hex-high-entropy-string"),
        (7, "hex-high-entropy-string"),
    ]


def test_a_real_secret_in_a_pre_commit_config_is_still_found(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    config = pre_commit_config(
        "        env:",
        f"          AWS_ACCESS_KEY_ID: {AWS_KEY}",
        f"          TOKEN: {TOKEN}",
    )
    root = write(tmp_path, {".pre-commit-config.yaml": config})
    found = secrets_findings(root, gl, ".pre-commit-config.yaml")
    assert found == [(11, "aws-access-key"), (12, "hex-high-entropy-string")]
    # The pinned SHA used as a token too: detect-secrets reports it once, at the pin's line; the
    # finding is kept and shown where the value is not a pin.
    write(root, {".pre-commit-config.yaml": config + f"          SECOND: {SHA}\n"})
    found = secrets_findings(root, gl, ".pre-commit-config.yaml")
    assert (13, "hex-high-entropy-string") in found
    assert not any(line in (3, 7) for line, _ in found)


# -- through the command line ---------------------------------------------------------------------


def gate_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, GateReport | None, str]:
    code = main(["gate", "--format", "json", *argv])
    out, err = capsys.readouterr()
    return code, GateReport.model_validate(json.loads(out)) if out.strip() else None, err


def test_the_cli_checks_the_named_files_of_the_project_they_belong_to(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write(
        tmp_path / "proj",
        {"assay.toml": 'fail_on = "low"\n', "src/ok.py": CLEAN, "src/bad.py": BAD},
    )
    monkeypatch.chdir(root / "src")
    only = ("--only", "ruff", "--only", "complexity")
    code, report, _ = gate_json(capsys, "ok.py", *only)
    assert report is not None and code == 0, report
    assert report.root == str(root)
    assert {r.files_scanned for r in report.results} == {1}
    code, report, _ = gate_json(capsys, "ok.py", "bad.py", *only)
    assert report is not None and code == 1
    assert files_named(report) == {"src/bad.py"}
    code, report, _ = gate_json(capsys, str(root / "assay.toml"), *only)
    assert report is not None and code == 0
    assert report.summary == "nothing to check in the selected files"


def test_the_cli_names_a_missing_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(write(tmp_path, {"ok.py": CLEAN}))
    code, report, err = gate_json(capsys, "ok.py", "gone.py")
    assert (code, report) == (2, None)
    assert "path does not exist: gone.py" in err

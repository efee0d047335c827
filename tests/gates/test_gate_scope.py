"""Tests are not source code: the complexity gate (mccabe, ruff's C901) measures source code only,
and bandit's B101 is not reported in tests. One definition of a test file, the same one the
generated project's ruff configuration spells as globs; the real ruff and bandit every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from assay.config import GatePolicy, Settings
from assay.gates.bandit import BanditGate
from assay.gates.base import GateResult, GateStatus
from assay.gates.complexity import ComplexityGate
from assay.gates.scope import TEST_FILE_GLOBS, is_test_file

RUFF = str(Path(sys.executable).parent / "ruff")

# complexity 1 plus 18 asserts: radon said 19, mccabe says 1 (the measured case of issue 11)
ASSERTS = "def test_round_trip(x: int) -> None:\n" + "".join(
    f"    assert x != {i}\n" for i in range(18)
)


def branches(name: str, n: int) -> str:
    """A function of complexity n + 1."""
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(n))
    return f"def {name}(x: int) -> int:\n{body}    return -1\n"


SAMPLES = {
    "tests/test_api.py": True,
    "tests/helpers/factory.py": True,
    "src/pkg/tests/test_x.py": True,
    "src/pkg/tests/data.py": True,
    "test_top.py": True,
    "src/pkg/test_mod.py": True,
    "src/pkg/mod_test.py": True,
    "conftest.py": True,
    "src/pkg/conftest.py": True,
    "src/pkg/mod.py": False,
    "src/pkg/testing.py": False,
    "src/pkg/contest.py": False,
    "src/pkg/latest_tests.py": False,
    "src/testsuite/mod.py": False,
}


@pytest.mark.parametrize(("path", "expected"), sorted(SAMPLES.items()))
def test_what_counts_as_a_test_file(path: str, expected: bool) -> None:
    assert is_test_file(path) is expected


def test_ruffs_per_file_ignores_with_the_test_globs_pick_the_same_files(tmp_path: Path) -> None:
    ignores = "\n".join(f'"{g}" = ["C901"]' for g in TEST_FILE_GLOBS)
    config = "[tool.ruff.lint.mccabe]\nmax-complexity = 1\n[tool.ruff.lint.per-file-ignores]\n"
    (tmp_path / "pyproject.toml").write_text(config + ignores + "\n")
    for rel in SAMPLES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(branches("f", 2))
    proc = subprocess.run(
        [RUFF, "check", "--select", "C901", "--output-format=json", "--no-cache", "--exit-zero",
         "."], cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    measured = {
        Path(d["filename"]).relative_to(tmp_path).as_posix() for d in json.loads(proc.stdout)
    }
    assert measured == {p for p, test in SAMPLES.items() if not test}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "src" / "pkg" / "route.py").write_text(branches("route", 10))  # 11
    (tmp_path / "src" / "pkg" / "ok.py").write_text(branches("fine", 9))  # 10: at the limit
    (tmp_path / "src" / "pkg" / "checks.py").write_text(ASSERTS.replace("test_", ""))
    (tmp_path / "tests" / "test_route.py").write_text(ASSERTS + "\n\n" + branches("helper", 12))
    return tmp_path


def complexity(gl: SimpleNamespace, root: Path, **options: object) -> GateResult:
    settings = Settings(gates={"complexity": GatePolicy.model_validate(options)})
    result: GateResult = gl.run(root, [ComplexityGate()], settings, cache_dir=None).results[0]
    return result


def found(result: GateResult) -> list[tuple[str, int, str]]:
    return [(f.file, f.line, f.message) for f in result.findings]


def test_complexity_measures_source_code_not_tests(tree: Path, gl: SimpleNamespace) -> None:
    result = complexity(gl, tree)
    assert result.status is GateStatus.FAILED and result.tool == "ruff"
    assert found(result) == [
        ("src/pkg/route.py", 1, "route has cyclomatic complexity 11 (max 10)")
    ]  # 18 asserts are complexity 1, in a test or not; the test's helper is not measured
    assert result.files_scanned == 3


def test_complexity_can_measure_tests_too(tree: Path, gl: SimpleNamespace) -> None:
    result = complexity(gl, tree, include_tests=True)
    assert sorted(found(result)) == [
        ("src/pkg/route.py", 1, "route has cyclomatic complexity 11 (max 10)"),
        ("tests/test_route.py", 22, "helper has cyclomatic complexity 13 (max 10)"),
    ]


def test_complexity_limit_is_the_gates_max_else_the_projects_ruff_setting(
    tree: Path, gl: SimpleNamespace
) -> None:
    (tree / "pyproject.toml").write_text("[tool.ruff.lint.mccabe]\nmax-complexity = 9\n")
    assert [f[0] for f in found(complexity(gl, tree))] == ["src/pkg/ok.py", "src/pkg/route.py"]
    assert found(complexity(gl, tree, max=11)) == []  # the policy's max wins
    (tree / "pyproject.toml").write_text("[tool.ruff]\nfix = true\n")  # never fixes anything
    assert len(found(complexity(gl, tree))) == 1


def test_complexity_honours_noqa_and_reports_unparsable_files(
    tree: Path, gl: SimpleNamespace
) -> None:
    route = tree / "src" / "pkg" / "route.py"
    route.write_text(
        route.read_text().replace("(x: int) -> int:", "(x: int) -> int:  # noqa: C901")
    )
    (tree / "src" / "pkg" / "broken.py").write_text("def broken(:\n    pass\n")
    result = complexity(gl, tree)
    assert [(f.rule_id, f.file, f.line) for f in result.findings] == [
        ("parse-error", "src/pkg/broken.py", 1)
    ]


def test_bandit_does_not_report_asserts_in_tests(tree: Path, gl: SimpleNamespace) -> None:
    (tree / "conftest.py").write_text("assert True\n")
    result = gl.run(tree, [BanditGate()], cache_dir=None).results[0]
    b101 = sorted({f.file for f in result.findings if f.rule_id == "B101"})
    assert b101 == ["src/pkg/checks.py"]  # an assert in source code is still reported
    assert result.status is GateStatus.PASSED  # low: reported, not failing

"""One policy for the factory and the generated project's CI: the commands of the scaffolded
workflow (its ``run:`` lines, without the ``pip install``), run with the tools of this venv, pass
in a converged workspace; the pre-commit hooks pass too; and where a gate fails, the CI command of
that gate fails on the same function, with the same scope and limit."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from ruamel.yaml import YAML

from assay.config import FactoryConfig, GatePolicy, Settings
from assay.factory.loop import Factory, RoleModels
from assay.factory.scaffold import Checks, write_scaffold
from assay.gates._tool import tool_version
from assay.gates.bandit import BanditGate
from assay.gates.base import Gate, GateStatus
from assay.gates.complexity import ComplexityGate
from assay.gates.mypy import MypyGate
from assay.gates.pytest_gate import PytestGate
from assay.gates.ruff import RuffGate
from assay.gates.runner import run_gates
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def gates() -> list[Gate]:
    return [RuffGate(), ComplexityGate(), MypyGate(), BanditGate(), PytestGate()]


def ci_commands(root: Path) -> list[str]:
    """The workflow's ``run:`` lines, in order, without the install step."""
    workflow = YAML(typ="safe").load((root / ".github/workflows/ci.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    runs = [str(s["run"]) for s in steps if "run" in s]
    assert runs[0] == "pip install -e '.[dev]'"
    return runs[1:]


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip


def checkout(workspace: Path, dest: Path) -> Path:
    """What CI's checkout sees: the committed tree, nothing the run left beside it."""
    subprocess.run(["git", "clone", "-q", str(workspace), str(dest)], check=True, env=ENV)
    return dest


async def test_a_converged_workspace_passes_its_own_ci(tmp_path: Path) -> None:
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    team = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    run_dir = tmp_path / "runs" / "ci"
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(max_iterations=4)),
        models=team, gates=gates(), validator=app.validator,
    )  # fmt: skip
    outcome = await factory.run()
    assert outcome.outcome == "converged"
    repo = checkout(run_dir / "workspace", tmp_path / "checkout")

    # The dev extra CI installs pins the tools the gates ran: this venv's.
    pyproject = tomllib.loads((repo / "pyproject.toml").read_text())
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    for tool in ("ruff", "mypy", "bandit"):
        assert f"{tool}=={tool_version(tool)}" in dev

    commands = ci_commands(repo)
    assert commands == [
        "ruff check . && ruff format --check .",
        "ruff check --select C901 .",
        "mypy",
        "bandit -c pyproject.toml -q -r . --severity-level medium",
        "pytest -q --cov=. --cov-fail-under=80",
    ]
    for command in commands:
        proc = sh(command, repo)
        assert proc.returncode == 0, f"{command}:\n{proc.stdout}\n{proc.stderr}"

    # The pre-commit hooks are the same checks (local hooks with the same tools, no network).
    hooks = sh(f"{BIN / 'pre-commit'} run --all-files", repo)
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    for hook in ("ruff check", "ruff format", "complexity (ruff C901)", "mypy", "bandit"):
        assert hook in hooks.stdout


COMPLEX_SOURCE = '''"""A function with 11 paths (one above the limit) and one with many asserts."""


def route(path: str) -> str:
    """Eleven paths."""
    if path == "/a":
        return "a"
    if path == "/b":
        return "b"
    if path == "/c":
        return "c"
    if path == "/d":
        return "d"
    if path == "/e":
        return "e"
    if path == "/f":
        return "f"
    if path == "/g":
        return "g"
    if path == "/h":
        return "h"
    if path == "/i":
        return "i"
    if path == "/j":
        return "j"
    return "404"


def checked(a: int) -> int:
    """Asserts are not branches: complexity 1."""
    assert a > 0 and a < 100
    assert a != 3 or a == 4
    assert a != 5
    assert a != 6
    assert a != 7
    assert a != 8
    assert a != 9
    assert a != 10
    assert a != 11
    assert a != 12
    assert a != 13
    return a
'''
# The measured case of the issue: complexity 1 plus 18 asserts, in a protected test.
ASSERTING_TEST = (
    '"""A round trip checked step by step."""\n\nfrom app.core import route\n\n\n'
    "def test_round_trip() -> None:\n"
    + "".join(f'    assert route("/{c}") == "{c}"\n' for c in "abcdefghij")
    + "".join(f'    assert route("/{c}{c}") == "404"\n' for c in "abcdefgh")
    + "\n\ndef test_branchy() -> None:\n"
    + "".join(
        f"    if route('/{c}') != '{c}':\n        raise ValueError('{c}')\n" for c in "abcdefghij"
    )
    + "    assert True\n"
)


def _project(root: Path, checks: Checks, source: str) -> Path:
    write_scaffold(root, app.SPEC, app.DESIGN, checks)
    (root / "src/app/__init__.py").write_text('"""The app."""\n')
    (root / "src/app/core.py").write_text(source)
    (root / "tests").mkdir()
    (root / "tests/test_core.py").write_text(ASSERTING_TEST)
    return root


async def test_complexity_gate_and_ci_agree_on_scope_and_limit(tmp_path: Path) -> None:
    for limit, fails in ((10, True), (11, False)):
        settings = Settings(gates={"complexity": GatePolicy.model_validate({"max": limit})})
        checks = Checks.of(settings)
        root = _project(tmp_path / f"max{limit}", checks, COMPLEX_SOURCE)
        report = await run_gates(root, settings, [ComplexityGate(), BanditGate()])
        complexity, bandit = report.results
        ci = sh("ruff check --select C901 . --output-format=concise", root)  # CI's line, terse
        if fails:
            # only the source function: neither the 18 asserts nor the branchy test count
            assert [(f.file, f.line, f.message) for f in complexity.findings] == [
                ("src/app/core.py", 4, "route has cyclomatic complexity 11 (max 10)")
            ]
            assert ci.returncode == 1
            assert ci.stdout.splitlines()[0] == (
                "src/app/core.py:4:5: C901 `route` is too complex (11 > 10)"
            )
            assert "tests/" not in ci.stdout
        else:
            assert complexity.status is GateStatus.PASSED and ci.returncode == 0, ci.stdout
        # B101: the asserts in src are reported (low, not failing), the tests' are not; CI agrees.
        b101 = sorted({f.file for f in bandit.findings if f.rule_id == "B101"})
        assert b101 == ["src/app/core.py"] and bandit.status is GateStatus.PASSED
        bandit_ci = sh(checks.bandit_command(), root)
        assert bandit_ci.returncode == 0, bandit_ci.stdout
        listed = sh(checks.bandit_command().replace("--severity-level medium", "-f csv"), root)
        assert "src/app/core.py" in listed.stdout and "test_core.py" not in listed.stdout

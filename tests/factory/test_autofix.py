"""Fixes that need no model: ruff's safe fixes and ruff format run on what the tester and the coder
wrote, as their own recorded, committed step, before the gates; the real ruff every time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from assay.config import FactoryConfig, Settings
from assay.factory.autofix import autofix, python_files
from assay.factory.loop import Factory, RoleModels
from assay.gates._tool import tool_version
from assay.gates.base import GateReport
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.messages import Changeset, FileChange, TestFile, TestSuite
from assay.testing import scripted
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()

RUFF_CONFIG = """\
[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "I"]
"""

# Unsorted imports (I001), an unused import (F401, a safe fix), single quotes and missing spaces
# (format), and an unused local variable (F841, whose fix ruff marks unsafe: it must stay).
MESSY = """\
import sys
import hashlib
def digest(name:str)->str:
    unused = 1
    return hashlib.sha256(name.encode()).hexdigest( )
"""
FIXED = """\
import hashlib


def digest(name: str) -> str:
    unused = 1
    return hashlib.sha256(name.encode()).hexdigest()
"""
MESSY_TEST = """\
from app.core import greet
import os
def test_greet_mentions_name() -> None:
    assert 'Ada' in greet( 'Ada' )
"""
MESSY_CORE = """\
\"\"\"Greetings.\"\"\"
import sys
import hashlib
def greet(name:str)->str:
    return f"Hello, {name}!"
def tag(name:str)->str:
    return hashlib.sha256(name.encode()).hexdigest()
"""


def ruff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "ruff")
    return subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


async def test_fixes_only_what_ruff_fixes_safely(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(RUFF_CONFIG)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "messy.py").write_text(MESSY)
    (tmp_path / "pkg" / "clean.py").write_text(FIXED)
    (tmp_path / "notes.md").write_text("import  sys\n")
    done = await autofix(tmp_path, ["pkg/messy.py", "pkg/clean.py", "notes.md", "pkg/gone.py"])
    assert done.files == ["pkg/clean.py", "pkg/messy.py"]  # Python files that exist, only
    assert done.changed == ["pkg/messy.py"]
    assert (tmp_path / "pkg" / "messy.py").read_text() == FIXED  # F841 (unsafe fix) is kept
    assert (tmp_path / "notes.md").read_text() == "import  sys\n"
    assert done.tools == {"ruff": tool_version("ruff")}
    assert [c[:2] for c in done.commands] == [["ruff", "check"], ["ruff", "format"]]
    assert "--unsafe-fixes" not in json.dumps(done.record())
    assert not done.problems
    # What is left is only what ruff cannot fix safely; the formatter has nothing more to do.
    left = json.loads(ruff("check", "--output-format=json", "--no-cache", ".", cwd=tmp_path).stdout)
    assert sorted((Path(d["filename"]).name, d["code"]) for d in left) == [
        ("clean.py", "F841"), ("messy.py", "F841"),
    ]  # fmt: skip
    assert ruff("format", "--check", "--no-cache", ".", cwd=tmp_path).returncode == 0


async def test_uses_the_projects_own_ruff_config(tmp_path: Path) -> None:
    # No "I" selected: the imports stay in the order the role wrote them.
    (tmp_path / "pyproject.toml").write_text('[tool.ruff.lint]\nselect = ["E"]\n')
    (tmp_path / "m.py").write_text("import sys\nimport os\n\nprint(os, sys)\n")
    done = await autofix(tmp_path, ["m.py"])
    assert done.changed == []
    assert (tmp_path / "m.py").read_text() == "import sys\nimport os\n\nprint(os, sys)\n"


async def test_an_unparsable_file_is_left_for_the_gates(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(RUFF_CONFIG)
    (tmp_path / "broken.py").write_text("def f(:\n")
    (tmp_path / "ok.py").write_text("x=1\n")
    done = await autofix(tmp_path, ["broken.py", "ok.py"])
    assert done.changed == ["ok.py"]
    assert (tmp_path / "broken.py").read_text() == "def f(:\n"
    assert (tmp_path / "ok.py").read_text() == "x = 1\n"
    assert done.problems and "broken.py" in done.problems[0]


def test_python_files_stay_inside_the_workspace(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside.py").write_text("x = 1\n")
    (tmp_path / "ws" / "link.py").symlink_to(tmp_path / "outside.py")
    (tmp_path / "ws" / "a.py").write_text("x = 1\n")
    assert python_files(tmp_path / "ws", ["../outside.py", "link.py", "a.py", "a.py"]) == ["a.py"]


def _team() -> RoleModels:
    m = app.models()
    suite = TestSuite(files=[TestFile(path="tests/test_core.py", content=MESSY_TEST)])
    changes = Changeset(
        files=[FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
               FileChange(path="src/app/core.py", content=MESSY_CORE)],
        rationale="write core",
    )  # fmt: skip
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    return RoleModels(
        architect=m["architect"], tester=scripted(lambda _: suite, name="tester"),
        coder=scripted(lambda _: changes, name="coder"), reviewer=m["security-reviewer"],
        labels=labels,
    )  # fmt: skip


def _steps(run_dir: Path) -> dict[str, Any]:
    with Ledger.open(run_dir, create=False) as ledger:
        return {e.step: e for e in ledger.events() if e.step}


async def test_the_loop_fixes_each_roles_files_as_a_recorded_step(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "fix"
    settings = Settings(factory=FactoryConfig(max_iterations=1))
    factory = Factory(run_dir, spec=app.SPEC, settings=settings, models=_team(), gates=[RuffGate()])
    await factory.run()
    steps = _steps(run_dir)
    ws = run_dir / "workspace"
    version = tool_version("ruff")
    for key, role, files in (
        ("tests/autofix", "tester", ["tests/test_core.py"]),
        ("iter-1/autofix", "coder", ["src/app/__init__.py", "src/app/core.py"]),
    ):
        event = steps[key]
        assert event.kind == "workspace.commit"
        assert event.payload["role"] == role
        fixed = event.payload["autofix"]
        assert fixed["files"] == files and fixed["tools"] == {"ruff": version}
        assert fixed["changed"] == [f for f in files if not f.endswith("__init__.py")]
        # its own commit, after the role's own one
        before = steps["tests" if role == "tester" else "iter-1/commit"].payload["commit"]
        parent = subprocess.run(
            ["git", "rev-parse", f"{event.payload['commit']}^"], cwd=ws, capture_output=True,
            text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert parent == before
        assert event.payload["message"].startswith(f"autofix: ruff fixes and formatting of {role}")
    # The gates saw the fixed files: nothing a fixer fixes is reported, nor fed back.
    report = GateReport.model_validate(steps["iter-1/gates"].payload["report"])
    assert report.passed and report.findings == []
    feedback = steps["iter-1/feedback"].payload["message"]
    assert not any(i["source"] == "ruff" for i in feedback["items"])
    assert ruff("format", "--check", "--no-cache", ".", cwd=ws).returncode == 0
    assert "import os" not in (ws / "tests/test_core.py").read_text()


async def test_nothing_to_fix_is_recorded_without_a_commit(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "clean"
    settings = Settings(factory=FactoryConfig(max_iterations=1))
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    team = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    factory = Factory(run_dir, spec=app.SPEC, settings=settings, models=team, gates=[])
    await factory.run()
    steps = _steps(run_dir)
    tests, fixed = steps["tests"].payload, steps["tests/autofix"].payload
    assert fixed["autofix"]["changed"] == [] and fixed["autofix"]["files"] == ["tests/test_core.py"]
    assert fixed["commit"] == tests["commit"] and fixed["message"] == "autofix: nothing to fix"

"""Issue 12, point 3: a setting that names an executable is resolved (inside the project, or on
PATH) and shown, so a config cannot make assay run a program without saying which."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.cli import main
from tests.conftest import line_with

CALC = 'def add(a: int, b: int) -> int:\n    """Add."""\n    return a + b\n'


def _project(root: Path, python: str) -> Path:
    (root / ".git").mkdir(parents=True)
    (root / "calc.py").write_text(CALC)
    (root / "pyproject.toml").write_text(f'[tool.assay.gates.pytest]\npython = "{python}"\n')
    return root


@pytest.mark.parametrize("python", ["python3", "tools/python"])
def test_the_executable_a_config_names_is_shown_resolved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], python: str
) -> None:
    root = _project(tmp_path / "p", python)
    main(["gate", str(root), "--only", "ruff"])
    err = capsys.readouterr().err
    expected = shutil.which("python3") if python == "python3" else "not found"
    assert line_with(err, f'executable: [gates.pytest] python = "{python}" -> {expected}')

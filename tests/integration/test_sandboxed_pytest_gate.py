"""`assay gate` with ``[tool.assay.gates.pytest] sandbox = "bwrap"`` runs the project's tests in
bubblewrap; without the option (the default for trusted code in CI) they run on the host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.cli import main
from assay.sandbox.bwrap import bwrap_problem
from tests.conftest import require_or_skip

CODE = '"""Adds."""\n\n\ndef add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b\n'
TEST = """import os
from pathlib import Path

from calc import add


def test_add_where() -> None:
    assert add(2, 3) == 5
    Path("where.txt").write_text(os.getcwd() + " " + str("ANTHROPIC_API_KEY" in os.environ))
"""


def _project(root: Path, option: str) -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / "calc.py").write_text(CODE)
    (root / "test_calc.py").write_text(TEST)
    (root / "pyproject.toml").write_text(
        f"[tool.pytest.ini_options]\npythonpath = ['.']\n\n"
        f"[tool.assay.gates.pytest]\ncoverage = 90\n{option}"
    )
    return root


def _gate(root: Path, tmp_path: Path) -> dict[str, object]:
    out = tmp_path / f"{root.name}.json"
    code = main(["gate", str(root), "--only", "pytest", "--format", "json", "-o", str(out)])
    report = json.loads(out.read_text())
    result = report["results"][0]
    assert code == 0, result
    return dict(result)


def test_pytest_gate_in_bwrap_and_on_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    boxed = _project(tmp_path / "boxed", 'sandbox = "bwrap"\n')
    result = _gate(boxed, tmp_path)
    assert result["status"] == "passed" and result["metrics"]["coverage"] == 100.0  # type: ignore[index]
    assert (boxed / "where.txt").read_text() == "/workspace False"

    host = _project(tmp_path / "host", "")
    assert _gate(host, tmp_path)["status"] == "passed"
    assert (host / "where.txt").read_text() == f"{host.resolve()} True"


def test_unknown_backend_is_a_gate_error(tmp_path: Path) -> None:
    root = _project(tmp_path / "odd", 'sandbox = "nosuchbox"\n')
    out = tmp_path / "odd.json"
    assert main(["gate", str(root), "--only", "pytest", "--format", "json", "-o", str(out)]) == 1
    result = json.loads(out.read_text())["results"][0]
    assert result["status"] == "error"
    assert "unknown sandbox backend 'nosuchbox'" in result["message"]

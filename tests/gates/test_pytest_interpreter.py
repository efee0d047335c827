"""The pytest gate runs a project's tests with the project's interpreter: the configured
``python``, else ``<project>/.venv``, else ``$VIRTUAL_ENV``, else assay's own; one without pytest
(or pytest-cov while coverage is required) makes the gate ``error``, never a silent fall-back.

The virtualenvs are real (`venv` without pip); their packages are links to the distributions
this interpreter has (pytest, pytest-cov and what they need), plus a module only they hold.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import sys
import venv
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from assay.cli import main
from assay.config import GatePolicy, Settings
from assay.gates.base import GateResult, GateStatus
from assay.gates.pytest_gate import PytestGate
from assay.sandbox.bwrap import bwrap_problem
from tests.conftest import require_or_skip

CODE = "import onlyhere\n\n\ndef total(n: int) -> int:\n    return n * onlyhere.PRICE\n"
TESTS = "from shop import total\n\n\ndef test_total() -> None:\n    assert total(2) == 14\n"
ONLY_HERE = "PRICE = 7\n"


def _closure(names: Iterable[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions `names` need, themselves included."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        dist = importlib.metadata.distribution(name)
        found[name] = dist
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values())


def make_venv(where: Path, packages: Iterable[str] = (), *, only_here: bool = True) -> Path:
    """A real virtualenv at `where` holding `packages` (linked from this interpreter's) and,
    with `only_here`, the module ``onlyhere`` that no other environment has."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    (site,) = where.glob("lib/python*/site-packages")
    for dist in _closure(packages):
        base = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or []}
        for top in sorted(tops - {"..", "__pycache__"}):
            if (base / top).exists() and not (site / top).exists():
                (site / top).symlink_to(base / top)
    if only_here:
        (site / "onlyhere.py").write_text(ONLY_HERE)
    return where / "bin" / "python"


def make_project(root: Path, options: str = "") -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / "shop.py").write_text(CODE)
    (root / "test_shop.py").write_text(TESTS)
    (root / "pyproject.toml").write_text(
        f"[tool.pytest.ini_options]\npythonpath = ['.']\n\n[tool.assay.gates.pytest]\n{options}"
    )
    return root


def gate(root: Path, gl: SimpleNamespace, **options: object) -> GateResult:
    settings = Settings(gates={"pytest": GatePolicy.model_validate(options)})
    (result,) = gl.run(root, [PytestGate()], settings).results
    assert isinstance(result, GateResult)
    return result


@pytest.fixture(autouse=True)
def _no_active_venv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)


def test_the_projects_venv_runs_the_tests(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = make_project(tmp_path / "shop")
    make_venv(root / ".venv", ["pytest", "pytest-cov"])
    result = gate(root, gl)
    assert result.status is GateStatus.PASSED, result.message
    assert result.metrics["coverage"] == 100.0
    assert " with .venv/bin/python (the project's .venv), Python " in result.tool_version
    assert result.tool_version.startswith(importlib.metadata.version("pytest") + " with ")


def test_without_the_venv_the_import_fails_and_a_new_venv_is_not_a_cache_hit(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = make_project(tmp_path / "shop")
    result = gate(root, gl)  # assay's own interpreter: no `onlyhere`
    assert result.status is GateStatus.FAILED
    assert "(assay's own interpreter)" in result.tool_version
    (error,) = [f for f in result.findings if f.rule_id == "test-error"]
    assert "ModuleNotFoundError: No module named 'onlyhere'" in error.message

    make_venv(root / ".venv", ["pytest", "pytest-cov"])
    again = gate(root, gl)  # same cache folder: the interpreter is part of the key
    assert again.status is GateStatus.PASSED and not again.cached, again.message
    assert gate(root, gl).cached

    (site,) = (root / ".venv").glob("lib/python*/site-packages")
    (site / "extra_pkg-1.0.dist-info").mkdir()  # a package installed into the venv
    (site / "extra_pkg-1.0.dist-info" / "METADATA").write_text("Name: extra-pkg\nVersion: 1.0\n")
    assert not gate(root, gl).cached


def test_a_venv_without_pytest_is_an_error_naming_it(tmp_path: Path, gl: SimpleNamespace) -> None:
    root = make_project(tmp_path / "shop")
    make_venv(root / ".venv")
    result = gate(root, gl)
    assert result.status is GateStatus.ERROR
    assert result.message.startswith(
        "the test interpreter .venv/bin/python (the project's .venv) has no pytest or pytest-cov:"
        f" install it there ({root / '.venv' / 'bin' / 'python'} -m pip install pytest pytest-cov)"
    ), result.message


def test_pytest_cov_is_needed_only_for_a_coverage_threshold(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = make_project(tmp_path / "shop")
    make_venv(root / ".venv", ["pytest"])
    result = gate(root, gl)
    assert result.status is GateStatus.ERROR
    assert "has no pytest-cov" in result.message
    assert "coverage = 0 to run without coverage" in result.message

    relaxed = gate(root, gl, coverage=0)
    assert relaxed.status is GateStatus.PASSED, relaxed.message
    assert "coverage" not in relaxed.metrics
    assert relaxed.metrics["tests"] == 1


def test_virtual_env_then_configured_python(
    tmp_path: Path, gl: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "shop")
    active = make_venv(tmp_path / "active", ["pytest", "pytest-cov"])
    monkeypatch.setenv("VIRTUAL_ENV", str(active.parent.parent))
    result = gate(root, gl)
    assert result.status is GateStatus.PASSED, result.message
    assert f" with {active} ($VIRTUAL_ENV)" in result.tool_version

    make_venv(root / "env", ["pytest", "pytest-cov"], only_here=False)
    configured = gate(root, gl, python="env/bin/python")  # wins over $VIRTUAL_ENV
    assert configured.status is GateStatus.FAILED
    assert "env/bin/python ([tool.assay.gates.pytest] python)" in configured.tool_version


def test_a_configured_python_that_does_not_start_is_an_error(
    tmp_path: Path, gl: SimpleNamespace
) -> None:
    root = make_project(tmp_path / "shop")
    result = gate(root, gl, python="no/such/python")
    assert result.status is GateStatus.ERROR
    assert result.message.startswith(
        "cannot run the test interpreter no/such/python ([tool.assay.gates.pytest] python)"
    ), result.message


def test_in_bwrap_the_workspace_venv_is_not_used_but_a_configured_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")
    root = make_project(tmp_path / "boxed", 'sandbox = "bwrap"\ncoverage = 90\n')
    make_venv(root / ".venv", ["pytest", "pytest-cov"])
    out = tmp_path / "report.json"
    argv = ["gate", str(root), "--only", "pytest", "--format", "json", "-o", str(out)]
    assert main(argv) == 1
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "failed"  # assay's interpreter: no `onlyhere`
    assert f"with {sys.executable} (assay's own interpreter)" in result["tool_version"]

    outside = make_venv(tmp_path / "deps", ["pytest", "pytest-cov"])
    text = (root / "pyproject.toml").read_text() + f'python = "{outside}"\n'
    (root / "pyproject.toml").write_text(text)
    shutil.rmtree(root / ".assay")
    assert main(argv) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "passed" and result["metrics"]["coverage"] == 100.0
    assert re.search(
        r" with \S+/deps/bin/python \(\[tool\.assay\.gates\.pytest\] python\)",
        result["tool_version"],
    )


def test_auto_under_docker_runs_the_images_python3(tmp_path: Path) -> None:
    from assay.sandbox.docker import docker_problem

    problem = docker_problem()
    require_or_skip(problem is None, f"docker: {problem}")
    root = make_project(tmp_path / "boxed", 'sandbox = "auto"\n')
    (root / "shop.py").write_text("def total(n: int) -> int:\n    return n * 7\n")
    out = tmp_path / "report.json"
    argv = ["gate", str(root), "--only", "pytest", "--format", "json", "-o", str(out)]
    # The image's pytest-cov is bookworm's 4.0: coverage is read from its Cobertura XML.
    assert main(argv) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["tool_version"] == "not inspected on the host: python3 (in the docker image)"
    assert result["status"] == "passed" and result["metrics"]["coverage"] == 100.0

    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text() + "coverage = 0\n"
    )  # then --cov is left out
    assert main(argv) == 0
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "passed" and result["metrics"]["tests"] == 1

"""assay without its extras: ``pip install assay`` has neither pydantic-ai nor the docker SDK
(the ``factory`` extra) nor semgrep (the ``semgrep`` extra). Commands that need them exit 2 saying
what to install; everything else works, and the sandbox selection falls back to bwrap.

The environment is a real virtualenv elsewhere (so nothing is beside its interpreter, semgrep
included) that sees this interpreter's packages, with pydantic_ai and docker made unimportable
the way a missing package is: ``import`` raises ``ModuleNotFoundError``.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from assay.sandbox.bwrap import bwrap_problem
from tests.conftest import require_or_skip

HIDDEN = ("pydantic_ai", "docker")
FACTORY_HINT = "install assay[factory], e.g. pip install 'assay[factory]'"
SCENARIO = """\
id: health
description: The service is healthy
steps:
  - description: Ask for the health status
    request:
      method: GET
      path: /health
    expect: Returns a JSON body whose status is "ok"
"""
CLEAN = '"""Adds."""\n\n\ndef add(a: int, b: int) -> int:\n    """Sum."""\n    return a + b\n'


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv's python that imports assay and the gates, but not the extras."""
    where = tmp_path_factory.mktemp("bare") / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(where)
    (own,) = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]
    (target,) = where.glob("lib/python*/site-packages")
    hide = ", ".join(f"{m!r}: None" for m in HIDDEN)
    (target / "assay_without_extras.pth").write_text(
        f"import site, sys; site.addsitedir({own!r}); sys.modules.update({{{hide}}})\n"
    )
    return where / "bin" / "python"


def assay(
    python: Path, *args: str, path: str = "/usr/bin:/bin", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path, "COLUMNS": "200"}
    code = "import sys; from assay.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [str(python), "-c", code, *args],
        capture_output=True, text=True, timeout=300, env=env, cwd=cwd, check=False,
    )  # fmt: skip


def project(root: Path) -> Path:
    root.mkdir()
    (root / ".git").mkdir()
    (root / "calc.py").write_text(CLEAN)
    return root


def test_the_extras_are_really_missing(bare_python: Path) -> None:
    for module in HIDDEN:
        proc = subprocess.run(
            [str(bare_python), "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr, proc.stderr
    assert not (bare_python.parent / "semgrep").exists()


def test_semgrep_gate_says_how_to_install_semgrep_then_uses_the_one_on_path(
    bare_python: Path, tmp_path: Path
) -> None:
    root = project(tmp_path / "calc")
    out = tmp_path / "gate.json"
    args = ["gate", str(root), "--only", "semgrep", "--format", "json", "-o", str(out)]
    proc = assay(bare_python, *args)
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "error"
    assert result["message"] == (
        "'semgrep' is not installed: install assay[semgrep] (pip install 'assay[semgrep]') "
        "or put 'semgrep' on PATH"
    )

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "semgrep").symlink_to(Path(sys.executable).parent / "semgrep")
    proc = assay(bare_python, *args, path=f"{bindir}:/usr/bin:/bin")
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(out.read_text())["results"]
    assert result["status"] == "passed" and result["tool_version"]


def test_factory_commands_exit_2_naming_the_extra(bare_python: Path, tmp_path: Path) -> None:
    (tmp_path / "spec.md").write_text("# svc\n\nSays hello.\n")
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "health.yaml").write_text(SCENARIO)
    for args in (
        ["run", "spec.md", "--scenarios", "scenarios"],
        ["resume", "runs/nothing"],
        ["sandbox", "build-image"],
        ["validate", "--scenarios", "scenarios", "--target", "http://127.0.0.1:9", "--judge-model",
         "anthropic:claude-sonnet-4-5"],
    ):  # fmt: skip
        proc = assay(bare_python, *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert FACTORY_HINT in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_sandbox_selection_without_the_docker_sdk(bare_python: Path, tmp_path: Path) -> None:
    code = (
        "from assay.sandbox import backend_problems, open_sandbox\n"
        "from assay.sandbox.select import resolve_backend\n"
        "problems = backend_problems()\n"
        "print(problems['docker'])\n"
        "print(resolve_backend() if problems['bwrap'] is None else 'no bwrap')\n"
        "try:\n"
        "    open_sandbox(__import__('pathlib').Path('.'), backend='docker')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    proc = subprocess.run(
        [str(bare_python), "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr
    docker, chosen, opened = proc.stdout.splitlines()
    # the detail is Python's ImportError message, e.g. No module named 'docker'
    assert docker.startswith("the docker sandbox backend needs the factory extra ("), docker
    assert docker.endswith(f"): {FACTORY_HINT}"), docker
    assert opened.startswith("SandboxUnavailable the docker sandbox backend needs the factory")
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")
    assert chosen == "bwrap"
    check = assay(bare_python, "sandbox", "check", cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    assert "auto picks: bwrap" in check.stdout
    assert FACTORY_HINT in check.stdout

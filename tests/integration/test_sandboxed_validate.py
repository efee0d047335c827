"""`assay validate --code` serves the service and runs exec steps through a real sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from assay.cli import main
from assay.sandbox.bwrap import bwrap_problem
from tests.conftest import COMPAT, REPO, line_with, require_or_skip

REFERENCE = REPO / "tests" / "reference"
HELLO = COMPAT / "hello-api" / "scenarios"

EXEC_SCENARIO = """\
id: where
description: exec steps run inside the sandbox, with no host secrets
steps:
  - description: print where we are and what we can see
    exec:
      command: >-
        python3 -c "import os; print(os.getcwd(), os.environ.get('ANTHROPIC_API_KEY'),
        os.path.exists('{host}'))"
    assert:
      exit_code: 0
      stdout_contains: "/workspace None False"
"""


@pytest.fixture
def bwrap() -> None:
    problem = bwrap_problem()
    require_or_skip(problem is None, f"bwrap: {problem}")


def _det(tmp_path: Path) -> Path:
    folder = tmp_path / "det"
    folder.mkdir()
    for name in ("crud.yaml", "not-found.yaml"):
        (folder / name).write_text((HELLO / name).read_text())
    return folder


def test_validate_serves_through_bwrap(
    bwrap: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-must-not-leak")
    folder = _det(tmp_path)
    (folder / "where.yaml").write_text(EXEC_SCENARIO.format(host=folder))  # a host-only path
    out = tmp_path / "report.json"
    start = f"{sys.executable} hello_api.py"  # assay's venv is mounted read-only
    args = ["validate", "-s", str(folder), "--code", str(REFERENCE), "--start", start]
    assert main([*args, "--sandbox", "bwrap", "-f", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["target"] == "http://sandbox"  # reached over the Unix socket, not TCP
    assert report["satisfaction"] == 100 and len(report["scenarios"]) == 3


def test_service_dying_mid_run_under_bwrap_is_diagnosed(
    bwrap: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "crud.yaml").write_text((HELLO / "crud.yaml").read_text())
    start = f"env EXIT_AFTER=2 {sys.executable} hello_api.py"
    args = ["validate", "-s", str(folder), "--code", str(REFERENCE), "--start", start]
    assert main([*args, "--sandbox", "bwrap", "-v"]) == 1
    out = capsys.readouterr().out
    line_with(out, "cannot connect")
    line_with(out, "exited with code 3")


def test_start_failure_under_bwrap_shows_output(
    bwrap: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = f"{sys.executable} -c \"print('booting'); raise SystemExit(4)\""
    args = ["validate", "-s", str(HELLO), "--code", str(tmp_path), "--start", start]
    assert main([*args, "--sandbox", "bwrap", "--start-timeout", "20"]) == 3
    err = capsys.readouterr().err
    line_with(err, "exited with code 4 before becoming healthy")
    assert "booting" in err


def test_no_backend_available_says_what_to_install(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()  # stop config lookup here
    (tmp_path / "assay.toml").write_text(
        f'[sandbox]\ndocker_host = "unix://{tmp_path}/no-engine.sock"\n'
    )
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    bwrap_problem.cache_clear()
    try:
        args = ["validate", "-s", str(HELLO), "--code", str(tmp_path), "--start", "x"]
        assert main(args) == 2
    finally:
        bwrap_problem.cache_clear()
    err = capsys.readouterr().err
    line_with(err, "no sandbox backend is available")
    assert "apt-get install bubblewrap" in err and "--sandbox local" in err
    assert "Traceback" not in err


def test_sandbox_flag_is_for_code_only(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["validate", "-s", str(HELLO), "--target", "http://127.0.0.1:1", "--sandbox", "bwrap"]
    assert main(args) == 2
    line_with(capsys.readouterr().err, "--sandbox applies to --code")


def test_local_is_refused_under_a_regulated_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "assay.toml").write_text("regulated = true\n")
    args = ["validate", "-s", str(HELLO), "--code", str(tmp_path), "--start", "x"]
    assert main([*args, "--sandbox", "local"]) == 2
    line_with(capsys.readouterr().err, "refused under a regulated policy")

"""`assay sandbox check` and `assay sandbox build-image` through the CLI's error boundary."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.sandbox.bwrap import bwrap_problem
from assay.sandbox.docker import DEFAULT_IMAGE, docker_problem
from tests.conftest import require_or_skip

pytestmark = pytest.mark.sandbox


def test_check_reports_backends(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    config = tmp_path / "assay.toml"
    config.write_text("[sandbox]\n")
    assert main(["sandbox", "check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "bwrap" in out and "auto picks:" in out


def test_check_with_a_bad_config_is_a_user_error(tmp_path: Path) -> None:
    config = tmp_path / "assay.toml"
    config.write_text('[sandbox]\nbackend = "chroot"\n')
    assert main(["sandbox", "check", "--config", str(config)]) == 2


def test_build_image_skips_an_existing_image(capsys: pytest.CaptureFixture[str]) -> None:
    problem = docker_problem(DEFAULT_IMAGE)
    require_or_skip(problem is None, f"docker: {problem}")
    assert main(["sandbox", "build-image"]) == 0
    assert "already present" in capsys.readouterr().err

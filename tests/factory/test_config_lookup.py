"""`assay run` takes its config from the project the user stands in, then from the spec's folder,
and says which file it used (or that it used none)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.config import find_first_config
from tests.conftest import line_with

SPEC = "# Items REST API\n\nKeeps items.\n"


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """``work/project`` (where the user stands) beside ``work/input/spec.md``; ``.git`` at
    ``work`` ends every upward search there, as in a repository."""
    for var in ("ASSAY_MODEL", "ASSAY_CODER_MODEL", "ASSAY_TESTING_MODELS"):
        monkeypatch.delenv(var, raising=False)
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    project = work / "project"
    project.mkdir()
    spec = work / "input" / "spec.md"
    spec.parent.mkdir()
    spec.write_text(SPEC)
    monkeypatch.chdir(project)
    return project, spec


def _run(capsys: pytest.CaptureFixture[str]) -> str:
    # no model is configured: the run stops (exit 2) once it has read its config
    assert main(["run", "../input/spec.md", "--runs-dir", "runs"]) == 2
    return capsys.readouterr().err


def test_the_current_folder_s_config_wins_over_the_spec_s(
    layout: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project, spec = layout
    (project / "assay.toml").write_text("[factory]\nmax_iterations = 2\n")
    (spec.parent / "assay.toml").write_text("[factory]\nmax_iterations = 5\n")
    assert find_first_config(project, spec) == project / "assay.toml"
    line_with(_run(capsys), f"config: {project / 'assay.toml'}")


def test_without_one_here_the_spec_s_folder_is_used(
    layout: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = layout[1]
    (spec.parent / "assay.toml").write_text("[factory]\nmax_iterations = 5\n")
    line_with(_run(capsys), f"config: {spec.parent / 'assay.toml'}")


def test_a_pyproject_with_tool_assay_counts_and_none_is_said(
    layout: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    project = layout[0]
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")  # no [tool.assay]
    err = _run(capsys)
    line_with(err, "config: none (defaults)")
    assert "config: /" not in err
    (project / "pyproject.toml").write_text("[tool.assay]\nfail_fast = true\n")
    line_with(_run(capsys), f"config: {project / 'pyproject.toml'}")


def test_the_search_from_each_folder_still_stops_at_the_repository(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    (outer / "repo" / ".git").mkdir(parents=True)
    (outer / "assay.toml").write_text("")  # above the repository: never reached
    spec_dir = tmp_path / "specs"
    spec_dir.mkdir()
    (spec_dir / ".git").mkdir()
    assert find_first_config(outer / "repo", spec_dir / "spec.md") is None

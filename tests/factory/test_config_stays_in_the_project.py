"""Issue 12, point 3: configuration stays inside the project.

Before: lookup climbed past a project's own pyproject.toml to the first `.git`, so a
`../assay.toml` naming `[gates.pytest] python = ".../evil.sh"` ran evil.sh as root; an empty
assay.toml silently overrode pyproject.toml; an unknown `[tool.assay.gates.X]` was ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.config import find_config
from tests.conftest import line_with


def test_an_assay_toml_above_the_project_is_never_read(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    evil = tmp_path / "evil.sh"
    (tmp_path / "assay.toml").write_text(
        f'[gates.pytest]\npython = "{evil}"\n\n[[waivers]]\nrule = "B301"\n'
        'reason = "planted"\nowner = "x"\nexpires = 2099-01-01\n'
    )
    project = tmp_path / "service"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'service'\n")
    assert find_config(project) is None  # the project's root stops the search: defaults
    (project / "pyproject.toml").write_text("[project]\nname='service'\n\n[tool.assay]\n")
    assert find_config(project / "src") == project / "pyproject.toml"


def test_an_assay_toml_with_no_settings_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.assay]\nfail_on = 'high'\n")
    (tmp_path / "assay.toml").write_text("# nothing yet\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    assert main(["gate", str(tmp_path), "--only", "ruff"]) == 2
    line_with(capsys.readouterr().err, "assay.toml", "holds no settings")


def test_an_unknown_gate_table_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.assay.gates.pytset]\ncoverage = 0\n")
    (tmp_path / "app.py").write_text("x = 1\n")
    assert main(["gate", str(tmp_path), "--only", "ruff"]) == 2
    err = capsys.readouterr().err
    line_with(err, "pyproject.toml", "[tool.assay.gates.pytset]", "no installed gate")

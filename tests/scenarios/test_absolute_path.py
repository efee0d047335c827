"""Issue 12, point 10: a step's path must be relative to the target.

Before: `path: http://127.0.0.1:18083/x` ignored `--target`, was scored against another server,
and lint did not warn.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.scenarios.loader import load_file
from tests.conftest import line_with

STEP = "id: abs\nsteps:\n  - description: elsewhere\n    request: {{method: GET, path: {path}}}\n"
STEP += "    expect: Status 200.\n"


@pytest.mark.parametrize(
    "path", ["http://127.0.0.1:18083/x", "https://example.org/", "//example.org/x", "items"]
)
def test_a_path_that_is_not_relative_to_the_target_is_a_lint_error(
    tmp_path: Path, path: str
) -> None:
    scenario = tmp_path / "abs.yaml"
    scenario.write_text(STEP.format(path=path))
    problems = [p for p in load_file(scenario).problems if p.rule == "AS031"]
    assert len(problems) == 1 and problems[0].severity == "error"
    assert (problems[0].line, problems[0].col) == (4, 34)


def test_validate_refuses_it_before_contacting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "abs.yaml").write_text(STEP.format(path="http://127.0.0.1:18083/x"))
    assert main(["validate", "-s", str(tmp_path), "--target", "http://127.0.0.1:1"]) == 2
    line_with(capsys.readouterr().err, "abs.yaml:4:34: AS031", "relative to the target")


def test_relative_and_templated_paths_are_fine(tmp_path: Path) -> None:
    for path in ("/items", "/items/{id}", "{base_path}/items"):
        scenario = tmp_path / "ok.yaml"
        scenario.write_text(STEP.format(path=path))
        assert not [p for p in load_file(scenario).problems if p.rule == "AS031"]

"""`assay scenarios compile`: clauses from a scripted model, each linted before it is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assay.cli import main
from assay.errors import UserError
from assay.scenarios.compiler import compile_dir
from assay.scenarios.loader import load_dir
from assay.scenarios.runner import step_checks
from benchmarks.octopusgarden_clauses import scripted_compiler

SCENARIO = """\
id: board
description: The board
steps:
  - description: List cards on a fresh board
    request: {method: GET, path: /api/cards}
    expect: "Status 200. Response body is an empty JSON array []."
  - description: Create without a title
    request: {method: POST, path: /api/cards, body: {}}
    expect: "Status 400. Response contains an error message about missing title."
  - description: Create with a bad pattern
    request: {method: POST, path: /api/cards, body: {title: x}}
    expect: "Status 201. The id looks like a slug."
"""

BAD_REGEX = {
    "The id looks like a slug.": {
        "assertions": {"json": [{"path": "$.id", "matches": "(["}]},
        "remainder": "",
        "sure": True,
    },
    "Response body is an empty JSON array [].": {
        "assertions": {"json": [{"path": "$", "type": "array", "length": 0}]},
        "remainder": "",
        "sure": True,
    },
}


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "scenarios"
    src.mkdir()
    (src / "board.yaml").write_text(SCENARIO)
    (src / "README.md").write_text("kept")
    return src


def _left(folder: Path) -> list[list[str]]:
    loaded = load_dir(folder)
    loaded.raise_for_errors()
    return [step_checks(st)[1] for sc in loaded.scenarios for st in sc.steps]


async def test_compile_writes_linted_clauses_and_keeps_the_original(tmp_path: Path) -> None:
    src = _folder(tmp_path)
    out = tmp_path / "out"
    done = await compile_dir(src, scripted_compiler(BAD_REGEX), out=out)
    assert [s.outcome for s in done.steps] == ["compiled", "unsure", "refused"]
    assert "AS011" in done.steps[2].detail  # the invalid regex never reaches a file
    assert (done.decided_before, done.decided_after, done.total) == (0, 1, 3)
    assert _left(out) == [
        [],
        ["Response contains an error message about missing title."],
        ["The id looks like a slug."],
    ]
    written = (out / "board.yaml").read_text()
    assert "#   Status 200. Response body is an empty JSON array []." in written
    assert "(\\[" not in written and "matches" not in written
    assert (src / "board.yaml").read_text() == SCENARIO  # the scenarios in use are untouched
    assert (out / "README.md").read_text() == "kept"


async def test_compile_never_writes_over_a_folder_without_force(tmp_path: Path) -> None:
    src = _folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "board.yaml").write_text("mine")
    with pytest.raises(UserError, match="--force"):
        await compile_dir(src, scripted_compiler(BAD_REGEX), out=out)
    assert (out / "board.yaml").read_text() == "mine"
    with pytest.raises(UserError, match="must not be the scenario folder"):
        await compile_dir(src, scripted_compiler(BAD_REGEX), out=src, force=True)
    await compile_dir(src, scripted_compiler(BAD_REGEX), out=out, force=True)
    assert _left(out)[0] == []


async def test_a_clause_clashing_with_the_assert_block_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.mkdir()
    (src / "a.yaml").write_text(
        "id: a\nsteps:\n  - description: d\n    request: {method: GET, path: /}\n"
        "    assert: {status: 201}\n    expect: The key should have expired.\n"
    )
    answers: dict[str, Any] = {
        "The key should have expired.": {
            "assertions": {"status": 404}, "remainder": "", "sure": True,
        }
    }  # fmt: skip
    done = await compile_dir(src, scripted_compiler(answers), out=tmp_path / "o")
    assert [(s.outcome, s.detail) for s in done.steps] == [
        ("refused", "the assert block already sets status to 201")
    ]


def test_the_command_refuses_an_existing_folder_before_asking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "never-used")
    monkeypatch.chdir(tmp_path)
    src = _folder(tmp_path)
    (tmp_path / "scenarios-compiled").mkdir()
    (tmp_path / "scenarios-compiled" / "x").write_text("")
    code = main(["scenarios", "compile", str(src), "--judge-model", "anthropic:claude-x"])
    assert code == 2 and "--force" in capsys.readouterr().err
    assert main(["scenarios", "compile", str(src)]) == 2
    assert "--judge-model" in capsys.readouterr().err

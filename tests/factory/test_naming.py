"""A run and its project are named from the spec (front matter, else H1, else the file's stem),
never from the folder it sits in; the scaffold cuts descriptions at a word and writes the README's
run line from the design's start command, once."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from assay.commands._compose import new_run_id
from assay.factory.scaffold import scaffold_files
from assay.messages import Design, Spec
from assay.spec import load_spec, slugify

COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_spec_md_in_a_folder_called_input_is_named_after_its_title(tmp_path: Path) -> None:
    copied = _write(tmp_path / "input" / "spec.md", (COMPAT / "hello-api" / "spec.md").read_text())
    spec = load_spec(copied)
    assert (spec.name, spec.title) == ("items-rest-api", "Items REST API")
    assert new_run_id(spec).startswith("items-rest-api-")
    files = scaffold_files(spec, Design(summary="Items.", package="items"))
    assert tomllib.loads(files["pyproject.toml"])["project"]["name"] == "items-rest-api"
    assert files["README.md"].startswith("# Items REST API\n")


@pytest.mark.parametrize(
    ("relative", "text", "name"),
    [
        ("input/spec.md", "---\nname: hello-api\n---\n# Items REST API\n\nx\n", "hello-api"),
        ("input/spec.md", "# Café & Crème: the API!\n\nx\n", "cafe-creme-the-api"),
        ("input/spec.md", "No heading at all.\n", "spec"),
        ("input/My Todo Spec.md", "Text, then ## a sub-heading only\n\n## Part\n", "my-todo-spec"),
        ("input/spec.md", "# 🐙\n\nonly an emoji in the title\n", "spec"),
    ],
)
def test_name_order_front_matter_then_heading_then_stem(
    tmp_path: Path, relative: str, text: str, name: str
) -> None:
    assert load_spec(_write(tmp_path / relative, text)).name == name


def test_slugs_are_project_names_cut_at_a_hyphen() -> None:
    long = slugify("A very long title " * 10)
    assert len(long) <= 64 and not long.endswith("-") and long.startswith("a-very-long-title-")
    assert slugify("  --  ") == ""
    assert slugify("Key-Value Store API (v2)") == "key-value-store-api-v2"


def test_the_pyproject_description_is_cut_at_a_word_with_an_ellipsis() -> None:
    summary = (
        "A multi-user expense tracker with categories, monthly reports and budgets " * 5
    ).strip()
    spec = Spec(name="expense-tracker", title="Expense Tracker", body="# Expense Tracker\n")
    files = scaffold_files(spec, Design(summary=summary, package="expense_tracker"))
    described = tomllib.loads(files["pyproject.toml"])["project"]["description"]
    assert len(described) <= 200 and described.endswith("\u2026")
    kept = described[:-1]
    assert summary.startswith(kept) and summary[len(kept)] == " "  # the cut falls between words
    quoted = Design(summary='Says "hi"\\n to you\nsecond line', package="hi")
    assert tomllib.loads(scaffold_files(spec, quoted)["pyproject.toml"])["project"][
        "description"
    ] == ("Says 'hi'n to you")


@pytest.mark.parametrize(
    ("start", "line"),
    [
        (
            "PORT=${PORT:-8080} PYTHONPATH=src python -m expense_tracker",
            "PORT=8080 PYTHONPATH=src python -m expense_tracker",
        ),
        ("python -m expense_tracker", "PORT=8080 PYTHONPATH=src python -m expense_tracker"),
        ("", "PORT=8080 PYTHONPATH=src python -m expense_tracker"),
        ("env PORT=1 python app.py --host 127.0.0.1", "PORT=8080 PYTHONPATH=src python app.py "
         "--host 127.0.0.1"),
    ],
)  # fmt: skip
def test_the_readme_run_line_is_the_design_argv_with_port_once(start: str, line: str) -> None:
    spec = Spec(name="expense-tracker", title="Expense Tracker", body="# Expense Tracker\n")
    design = Design(summary="Expenses.", package="expense_tracker", start_command=start)
    readme = scaffold_files(spec, design)["README.md"]
    assert f"\n{line}\n" in readme
    assert readme.count("PORT=") == 1

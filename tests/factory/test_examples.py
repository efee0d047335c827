"""The shipped example specs and scenarios load cleanly, and `assay init` produces the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import UserError
from assay.scenarios.loader import load_dir
from assay.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ("hello-api", "kv-store", "url-shortener")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_spec_and_scenarios(name: str) -> None:
    spec = load_spec(REPO / "specs" / f"{name}.md")
    assert spec.name == name and "PORT" in spec.body
    loaded = load_dir(REPO / "scenarios" / name)
    loaded.raise_for_errors()
    assert len(loaded.scenarios) >= 2
    for scenario in loaded.scenarios:  # scenarios are held out: never quoted by the spec
        assert scenario.description not in spec.body


def test_init_scaffolds_a_spec_and_scenarios(tmp_path: Path) -> None:
    assert main(["init", "todo-api", "--dir", str(tmp_path)]) == 0
    spec = load_spec(tmp_path / "todo-api" / "spec.md")
    assert spec.name == "todo-api"
    load_dir(tmp_path / "todo-api" / "scenarios").raise_for_errors()
    assert main(["init", "todo-api", "--dir", str(tmp_path)]) == 2  # never overwrites


def test_spec_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"s\.md:4: front matter is not valid YAML"):
        parse_spec("---\nname: ok\nbad: [\n---\n# T\n", source="s.md")
    with pytest.raises(UserError, match="spec is empty"):
        parse_spec("---\nname: x\n---\n", source="s.md")
    assert main(["run", str(tmp_path / "missing.md")]) == 2

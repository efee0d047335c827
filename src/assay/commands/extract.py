"""`assay extract --source DIR`: a team's conventions from an exemplar, as house-style.json/.md.

The JSON is the document a run uses (``--house-style`` or ``[tool.assay.factory] house_style``);
the Markdown is rendered from it for review. Both are written next to each other: ``--out``
names the Markdown, the JSON takes its name with ``.json``. ``--render FILE`` renders the
Markdown again from a JSON a reviewer edited (its ``notes``), without reading any source.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def extract_command(
    source: Annotated[
        Path | None, typer.Option("--source", help="The exemplar codebase (a folder).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="The Markdown to write; the JSON goes beside it.")
    ] = Path("house-style.md"),
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="A glob, relative to the source, not to read (repeatable)."),
    ] = None,
    render: Annotated[
        Path | None,
        typer.Option("--render", help="Render --out again from this house-style JSON instead."),
    ] = None,
) -> int:
    """Record a codebase's conventions in house-style.json and .md for the architect and coder."""
    from assay.errors import UserError
    from assay.housestyle.extract import extract
    from assay.housestyle.model import load_house_style
    from assay.housestyle.render import markdown
    from assay.terminal import info_console, literal

    if (source is None) == (render is None):
        raise UserError("give --source DIR (extract) or --render FILE (render again), not both")
    if out.suffix != ".md":
        raise UserError(f"--out {out}: name the Markdown file (.md); the JSON goes beside it")
    json_path = out.with_suffix(".json")
    if render is not None:
        style = load_house_style(render)
    else:
        assert source is not None
        style = extract(source, exclude=exclude or ())
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(style.to_json(), encoding="utf-8")
    out.write_text(markdown(style), encoding="utf-8")
    notes = info_console(stderr=True)
    written = f"{literal(json_path)} and {literal(out)}" if render is None else literal(out)
    notes.print(
        f"wrote {written}: {style.source.python_files} Python files, web framework "
        f"{style.frameworks.web or 'none'}, logging {style.logging.style}, tests "
        f"{style.tests.framework}, {len(style.snippets)} snippet(s)"
    )
    for skipped in style.source.skipped:
        notes.print(f"not analysed: {literal(skipped)}")
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay extract`."""
    app.command("extract")(extract_command)

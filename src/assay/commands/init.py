"""`assay init NAME`: scaffold a spec and a holdout scenarios folder to start from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from assay.errors import UserError

__all__ = ["register"]

_SPEC = """\
---
name: {name}
---
# {title}

Describe the service in plain words: what it does, for whom, and its HTTP interface.

## Endpoints

- `GET /health` returns `200` with `{{"status": "ok"}}`.

## Rules

- The service listens on `127.0.0.1` at the port in `$PORT`.
- Invalid input returns `400` with a JSON body `{{"error": "..."}}`.
"""

_SCENARIO = """\
# Holdout scenarios are never shown to the generating roles; keep them out of the spec.
id: health
description: The service reports that it is healthy
type: api
weight: 1
steps:
  - description: Ask for the health status
    request:
      method: GET
      path: /health
    expect: Returns 200 with a JSON body whose status is "ok"
"""


def init_command(
    name: Annotated[str, typer.Argument(help="Service name, e.g. todo-api.")],
    directory: Annotated[Path, typer.Option("--dir", help="Parent folder.")] = Path("."),
) -> int:
    """Create NAME/spec.md and NAME/scenarios/health.yaml."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise UserError(f"name {name!r} must be lower-case letters, digits and dashes")
    root = directory / name
    spec, scenario = root / "spec.md", root / "scenarios" / "health.yaml"
    for path in (spec, scenario):
        if path.exists():
            raise UserError(f"{path} exists; not overwriting it")
    scenario.parent.mkdir(parents=True, exist_ok=True)
    title = name.replace("-", " ").title()
    spec.write_text(_SPEC.format(name=name, title=title), encoding="utf-8")
    scenario.write_text(_SCENARIO, encoding="utf-8")
    typer.echo(
        f"created {spec} and {scenario}\n"
        f"next: edit them, then `assay run {spec} --scenarios {scenario.parent}`"
    )
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay init`."""
    app.command("init")(init_command)

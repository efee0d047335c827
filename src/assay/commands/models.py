"""`assay models`: the configured providers' models, which roles use them, and their prices.

Informational: a provider that cannot be listed is said so on its own line and the command still
exits 0; bad settings (the config file, or a model string without ``<provider>:``) exit 2.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from assay.agents.catalog import Catalog, build_catalog
from assay.config import find_config, load_settings
from assay.plugins import load_plugins, model_providers
from assay.terminal import Cell, console, literal, print_table

__all__ = ["models_command", "register"]

COLUMNS = ("provider", "model", "configured-as", "input $/Mtok", "output $/Mtok", "source")


def _dollars(value: float | None) -> str:
    if value is None:
        return "unpriced"
    return f"{value:.2f}" if round(value, 2) == value else f"{value:g}"  # 0.075 stays 0.075


def _rows(catalog: Catalog) -> list[list[Cell]]:
    return [
        [
            r.provider,
            r.model,
            ", ".join(r.configured_as) or "-",
            _dollars(r.price.input if r.price else None),
            _dollars(r.price.output if r.price else None),
            (r.source, "green" if r.source == "listed" else "yellow"),
        ]
        for r in catalog.rows
    ]


def _status_lines(catalog: Catalog) -> list[str]:
    """One line per provider: how many it listed, or why it could not be listed."""
    lines = []
    for x in catalog.listings:
        where = f" ({x.endpoint})" if x.endpoint else ""
        if x.models is None:
            said = f"could not list: {x.problem}"
        else:
            said = f"listed {len(x.models)} model{'' if len(x.models) == 1 else 's'}"
            said = said if x.models else "listed: no models"
        lines.append(f"{x.provider} [{x.origin}]: {said}{where}")
    return lines


def models_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="assay.toml or pyproject.toml to use.")
    ] = None,
) -> int:
    """List the configured providers' models, the roles using them and their prices."""
    settings = load_settings(config if config is not None else find_config(Path.cwd()))
    pm = load_plugins(settings=settings)
    with httpx.Client(follow_redirects=False) as client:
        catalog = build_catalog(
            settings.models, env=os.environ, plugin_providers=model_providers(pm), client=client
        )
    if as_json:
        typer.echo(json.dumps(catalog.as_json(), indent=2))
        return 0
    out = console()
    print_table(out, "models of the configured providers", COLUMNS, _rows(catalog))
    for line in _status_lines(catalog):
        out.print(literal(line))
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay models`."""
    app.command("models")(models_command)

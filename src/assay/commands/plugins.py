"""`assay plugins`: every plugin found, where it came from, and what it provides."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

import assay
from assay.config import find_config, load_settings
from assay.plugins import PluginError, PluginInfo, describe_plugins, load_plugins
from assay.terminal import Cell, console, info_console, literal, print_table

__all__ = ["ListFormat", "register"]


class ListFormat(enum.StrEnum):
    """What `assay plugins --format` can write."""

    TEXT = "text"
    JSON = "json"


_STATUS_STYLE = {"loaded": "green", "blocked": "yellow", "broken": "bold red", "not-loaded": "dim"}


def _rows(infos: list[PluginInfo]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for info in infos:
        dist = f"{info.distribution} {info.version or ''}".strip() if info.distribution else "-"
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in info.provides.items())
        extra = [h for h in info.hooks if h == "assay_gate_classes"]
        status = str(info.status)
        if info.origin == "builtin":
            status += " (built-in)"
        elif info.required:
            status += " (required)"
        rows.append(
            [
                info.name,
                (status, _STATUS_STYLE.get(info.status, "")),
                dist,
                provides + (f" [deprecated hook {extra[0]}]" if extra else "") or "-",
                "; ".join(info.problems),
            ]
        )
    return rows


def plugins_command(
    fmt: Annotated[
        ListFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ListFormat.TEXT,
    config: Annotated[
        Path | None, typer.Option("--config", help="assay.toml or pyproject.toml to use.")
    ] = None,
) -> int:
    """List every plugin: status, distribution and version, and what it provides."""
    settings = load_settings(config if config is not None else find_config(Path.cwd()))
    pm = load_plugins(settings=settings, strict=False)
    infos = describe_plugins(pm)
    known = set(pm.records)
    unattached = [p for p in pm.problems if p.plugin not in known]
    if fmt is ListFormat.JSON:
        payload = {
            "assay_version": assay.__version__,
            "plugin_api_version": assay.PLUGIN_API_VERSION,
            "autoload": pm.autoload,
            "plugins": [i.model_dump() for i in infos],
            "problems": [
                {"plugin": p.plugin, "kind": p.kind, "message": str(p)} for p in pm.problems
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
    else:
        out = console()
        title = f"assay plugins (plugin API {assay.PLUGIN_API_VERSION})"
        columns = ("plugin", "status", "distribution", "provides", "problems")
        print_table(out, title, columns, _rows(infos))
        for problem in unattached:
            out.print(f"[bold red]{literal(problem)}[/]")
        if not pm.autoload:
            info_console().print("autoload is off (ASSAY_DISABLE_PLUGIN_AUTOLOAD=1)")
    for problem in pm.problems:
        if pm.is_required(problem.plugin):
            raise PluginError(problem, pm.source)
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay plugins`."""
    app.command("plugins")(plugins_command)

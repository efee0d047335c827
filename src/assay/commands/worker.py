"""`assay worker`: execute the fleet's runs (the command lives in `assay.commands.fleet`)."""

from __future__ import annotations

import typer

from assay.commands.fleet import worker_command

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Attach `assay worker`."""
    app.command("worker")(worker_command)

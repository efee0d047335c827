"""One module per subcommand group; `register` attaches them to the Typer app.

Modules are imported only for the command being run, so `assay gate` does not pay for importing
pydantic-ai, the evidence writers or the scenario runner. `--help` imports them all.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["COMMANDS", "register"]

#: Top-level command name -> the module whose `register(app)` attaches it, in help order.
COMMANDS: dict[str, str] = {
    "init": "assay.commands.init",
    "run": "assay.commands.run",
    "resume": "assay.commands.resume",
    "runs": "assay.commands.runs",
    "gate": "assay.commands.gate",
    "validate": "assay.commands.validate",
    "scenarios": "assay.commands.scenarios",
    "report": "assay.commands.report",
    "verify": "assay.commands.verify",
    "approve": "assay.commands.approve",
    "sandbox": "assay.commands.sandbox",
    "plugins": "assay.commands.plugins",
}


def register(app: typer.Typer, argv: list[str] | None = None) -> None:
    """Attach the command named in `argv`, or every command when none is named."""
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    if first in COMMANDS:
        names = [first]
    elif first is None and "--version" in (argv or []):
        names = []
    else:
        names = list(COMMANDS)
    for name in names:
        importlib.import_module(COMMANDS[name]).register(app)

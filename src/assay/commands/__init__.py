"""One module per subcommand group; `register` attaches them to the Typer app.

Modules are imported only for the command being run, so `assay gate` does not pay for importing
pydantic-ai, the evidence writers or the scenario runner. The top-level ``assay --help`` imports
none of them: it lists each command with the one-line help below (a test keeps these lines equal
to the commands' own docstrings).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import typer

__all__ = ["COMMANDS", "CommandEntry", "register"]


class CommandEntry(NamedTuple):
    """Where a top-level command lives, and its first help line for ``assay --help``."""

    module: str
    summary: str


#: Top-level command name -> its module and help line, in help order.
COMMANDS: dict[str, CommandEntry] = {
    "init": CommandEntry(
        "assay.commands.init", "Create NAME/spec.md and NAME/scenarios/health.yaml."
    ),
    "interview": CommandEntry(
        "assay.commands.interview",
        "Draft a spec (and scenarios) by answering a model's questions; --seed improves a spec.",
    ),
    "extract": CommandEntry(
        "assay.commands.extract",
        "Record a codebase's conventions in house-style.json and .md for the architect and coder.",
    ),
    "preflight": CommandEntry(
        "assay.commands.preflight",
        "Check a spec before building it. Exit 0 at/above the threshold, 1 below, 2 usage error.",
    ),
    "run": CommandEntry(
        "assay.commands.run",
        "Build SPEC into a gated service. Exit 0 converged, 1 stopped otherwise, 2 usage error.",
    ),
    "resume": CommandEntry(
        "assay.commands.resume",
        "Resume RUN. Exit 0 converged, 1 stopped otherwise, 2 usage error, 3 run error.",
    ),
    "runs": CommandEntry("assay.commands.runs", "List runs."),
    "gate": CommandEntry(
        "assay.commands.gate",
        "Run the quality gates on PATHS. Exit 0 passed, 1 a required gate failed, 2 usage error.",
    ),
    "validate": CommandEntry(
        "assay.commands.validate",
        "Run scenarios against a service. Exit 0 at/above the threshold, 1 below, 2 usage error.",
    ),
    "report": CommandEntry(
        "assay.commands.report",
        "Write HTML and JSON reports, SARIF, JUnit, SBOM, provenance and a signed manifest.",
    ),
    "verify": CommandEntry(
        "assay.commands.verify",
        "Exit 0 when everything verifies; 1 naming the first bad event or file otherwise.",
    ),
    "approve": CommandEntry(
        "assay.commands.approve",
        "Append an approval; the approver must not be a role, model or user that made the change.",
    ),
    "key": CommandEntry(
        "assay.commands.key", "Create and show your signing key (runs, reports and approvals)."
    ),
    "trust": CommandEntry(
        "assay.commands.trust", "The keys assay verify accepts as signers (your trust root)."
    ),
    "plugins": CommandEntry(
        "assay.commands.plugins",
        "List every plugin: status, distribution and version, and what it provides.",
    ),
    "models": CommandEntry(
        "assay.commands.models",
        "List the configured providers' models, the roles using them and their prices.",
    ),
    "scenarios": CommandEntry(
        "assay.commands.scenarios",
        "Holdout scenarios: lint them, see what is checked without a model.",
    ),
    "sandbox": CommandEntry(
        "assay.commands.sandbox", "Set up and check the sandboxes generated code runs in."
    ),
    "fleet": CommandEntry(
        "assay.commands.fleet", "Enqueue runs for the fleet's workers, list them, cancel them."
    ),
    "worker": CommandEntry(
        "assay.commands.worker",
        "Execute the fleet's runs until stopped (Ctrl-C or SIGTERM); recover dead workers' runs.",
    ),
}


def register(app: typer.Typer, argv: list[str] | None = None, *, complete: bool = False) -> None:
    """Attach the command named in `argv`; with none named, a help-only entry for each.

    `complete` (shell completion is asking) attaches every command for real, so their options
    can be completed.
    """
    first = next((a for a in argv or [] if not a.startswith("-")), None)
    if complete:
        names = list(COMMANDS)
    elif first in COMMANDS:
        names = [first]
    else:
        for name, entry in COMMANDS.items():
            app.command(name, help=entry.summary, add_help_option=False)(_listed_only)
        return
    for name in names:
        importlib.import_module(COMMANDS[name].module).register(app)


def _listed_only() -> None:  # pragma: no cover - only ever listed by --help, never run
    """Stands in for a command in the top-level help; the real one is attached when named."""

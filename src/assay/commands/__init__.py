"""One module per subcommand group; `register_all` attaches them to the Typer app."""

from __future__ import annotations

import typer

from assay.commands import (
    approve,
    gate,
    init,
    plugins,
    report,
    resume,
    run,
    runs,
    sandbox,
    scenarios,
    validate,
    verify,
)

__all__ = ["register_all"]


def register_all(app: typer.Typer) -> None:
    """Attach every subcommand to `app`."""
    gate.register(app)
    plugins.register(app)
    approve.register(app)
    report.register(app)
    verify.register(app)
    sandbox.register(app)
    scenarios.register(app)
    validate.register(app)
    init.register(app)
    run.register(app)
    resume.register(app)
    runs.register(app)

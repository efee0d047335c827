"""`assay resume RUN`: continue a run from its last completed step (after a crash or an outage).

The spec, the settings, their config file, the scenarios folder and the judge come from the run's
``run.started`` event (`assay.commands._compose.recorded_run`), so the resumed run is the same
run, wired by the same `compose` as ``assay run``; only the role models are configured again
(flags, env, the recorded settings).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from assay._extras import require_factory
from assay.errors import UserError
from assay.ledger import LEDGER_FILE, STORE_FILE, is_run_folder

__all__ = ["find_run", "register"]


def find_run(run: str, runs_dir: Path) -> Path:
    """The run folder named by `run`: a path, or an id under `runs_dir`."""
    for candidate in (Path(run), runs_dir / run):
        if is_run_folder(candidate):
            return candidate.resolve()
    raise UserError(
        f"no run '{run}' (looked for {LEDGER_FILE} or {STORE_FILE} in {run} and {runs_dir / run})"
    )


def resume_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run folder or run id.")],
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")] = Path("runs"),
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    strong_model: Annotated[str | None, typer.Option("--strong-model")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url")] = None,
    no_live: Annotated[bool, typer.Option("--no-live", help="No live progress display.")] = False,
    otel_endpoint: Annotated[
        str | None,
        typer.Option(
            "--otel-endpoint",
            help="Send OpenTelemetry traces to this OTLP/HTTP collector, e.g. "
            "http://localhost:4318 (or OTEL_EXPORTER_OTLP_ENDPOINT).",
        ),
    ] = None,
) -> int:
    """Resume RUN. Exit 0 converged, 1 stopped otherwise, 2 usage error, 3 run error."""
    require_factory("assay resume")
    from assay import tracing
    from assay.commands._compose import compose, recorded_run
    from assay.commands._factory import execute
    from assay.commands.runs import print_shortfall
    from assay.terminal import info_console, literal

    env = dict(os.environ)
    description = recorded_run(
        find_run(run, runs_dir), env=env, model=model, strong=strong_model, base_url=base_url
    )
    # before the run folder exists: a bad URL or a missing extra stops nothing half-made
    traces = tracing.exporter(tracing.endpoint(otel_endpoint, env))
    factory = compose(description, env=env)
    notes = info_console(stderr=True)
    notes.print(f"resuming [bold]{literal(description.run_id)}[/]")
    with tracing.exporting(traces):
        outcome = execute(factory, description.run_id, notes, live=not no_live)
    print_shortfall(notes, description.run_dir)  # the last line: what the missing points were
    return 0 if outcome.outcome == "converged" else 1


def register(app: typer.Typer) -> None:
    """Attach `assay resume`."""
    app.command("resume")(resume_command)

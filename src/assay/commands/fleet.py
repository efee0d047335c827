"""`assay fleet submit|status|cancel` and `assay worker`: many runs on many machines (issue 16).

``submit`` describes each run as ``assay run`` would (the same `RunDescription`) and enqueues it
on the fleet's runs queue as a DBOS workflow whose id is the run id; ``assay worker`` (any
number, on any machine that reaches the system database and the shared runs folder) executes
them; ``status`` lists them by state; ``cancel`` cancels one. The design is docs/fleet.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from assay._extras import require, require_factory

__all__ = ["register"]

fleet_app = typer.Typer(
    help="Enqueue runs for the fleet's workers, list them, cancel them.", no_args_is_help=True
)

_CONFIG = typer.Option("--config", help="assay.toml to use (its fleet settings).")


def _require() -> None:
    require_factory("assay fleet")
    require("dbos", "fleet", "assay fleet")


def _settings(config: Path | None, *starts: Path) -> Any:
    from assay.config import find_first_config, load_settings

    where = config if config is not None else find_first_config(Path.cwd(), *starts)
    return load_settings(where)


def submit_command(
    specs: Annotated[list[Path], typer.Argument(metavar="SPEC...", help="Specs (Markdown).")],
    scenarios: Annotated[
        Path | None, typer.Option("--scenarios", "-s", help="Holdout scenarios folder.")
    ] = None,
    runs_dir: Annotated[
        Path, typer.Option("--runs-dir", help="Where runs live: a folder every worker reaches.")
    ] = Path("runs"),
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for every role.")
    ] = None,
    config: Annotated[Path | None, _CONFIG] = None,
    house_style: Annotated[
        Path | None, typer.Option("--house-style", help="house-style.json from assay extract.")
    ] = None,
    skip_preflight: Annotated[
        bool, typer.Option("--skip-preflight", help="Build without checking each spec first.")
    ] = False,
) -> int:
    """Enqueue one run per SPEC; print each run id."""
    _require()
    from assay.commands._compose import describe_run, new_run_id
    from assay.errors import UserError
    from assay.fleet.runtime import (
        APP_VERSION,
        RUN_WORKFLOW,
        RUNS_QUEUE,
        client,
        ledger_database,
    )
    from assay.spec import load_spec

    if scenarios is not None and not scenarios.exists():
        raise UserError(f"scenarios folder does not exist: {scenarios}")
    env = dict(os.environ)
    # A fleet on PostgreSQL keeps every run's ledger there too (SQLite does not belong on the
    # shared runs folder); on SQLite each run keeps ledger.sqlite in its folder.
    fleet_settings = _settings(config)
    ledger_db = ledger_database(fleet_settings)
    described = []
    for path in specs:
        spec = load_spec(path)
        settings = _settings(config, path.resolve())
        described.append(
            describe_run(
                spec,
                settings,
                run_dir=runs_dir / new_run_id(spec),
                scenarios=scenarios,
                env=env,
                model=model,
                house_style=house_style,
                ledger_database=ledger_db,
                skip_preflight=skip_preflight,
            )
        )
    fleet = client(fleet_settings)
    try:
        for d in described:
            fleet.enqueue(
                {
                    "queue_name": RUNS_QUEUE,
                    "workflow_name": RUN_WORKFLOW,
                    "workflow_id": d.run_id,
                    "app_version": APP_VERSION,
                },
                d.model_dump_json(),
            )
            typer.echo(d.run_id)
    finally:
        fleet.destroy()
    return 0


def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list.")] = False,
    config: Annotated[Path | None, _CONFIG] = None,
) -> int:
    """List the fleet's runs: queued, running, finished, failed, cancelled."""
    _require()
    from assay.fleet.runtime import RUN_WORKFLOW, client, fleet_state, system_database
    from assay.fleet.spend import FleetSpend
    from assay.terminal import console, literal

    settings = _settings(config)
    fleet = client(settings)
    try:
        rows = [
            {"run": w.workflow_id, "state": fleet_state(w.status), "worker": w.executor_id,
             "queued_at": w.created_at, "finished_at": w.completed_at,
             "outcome": (w.output or {}).get("outcome") if isinstance(w.output, dict) else None,
             "error": str(w.error) if w.error else None}
            for w in fleet.list_workflows(name=RUN_WORKFLOW, load_input=False)
        ]  # fmt: skip
    finally:
        fleet.destroy()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return 0
    out = console()
    if settings.fleet.budget_usd is not None:
        spend = FleetSpend(system_database(settings), settings.fleet.system_schema, None)
        try:
            out.print(f"fleet spend: ${spend.spent():.4f} of ${settings.fleet.budget_usd:.2f}")
        finally:
            spend.close()
    if not rows:
        out.print("no runs")
    for r in rows:
        tail = r["outcome"] or r["error"] or ""
        out.print(
            f"{literal(r['run'])}  {r['state']}  {literal(r['worker'] or '-')}  {literal(tail)}"
        )
    return 0


def cancel_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run id from `assay fleet status`.")],
    config: Annotated[Path | None, _CONFIG] = None,
) -> int:
    """Cancel RUN: a queued run never starts, a running one stops at its next step."""
    _require()
    from assay.errors import UserError
    from assay.fleet.runtime import RUN_WORKFLOW, client

    fleet = client(_settings(config))
    try:
        if not fleet.list_workflows(workflow_ids=[run], name=RUN_WORKFLOW, load_input=False):
            raise UserError(f"no run '{run}' in the fleet")
        fleet.cancel_workflow(run)
    finally:
        fleet.destroy()
    typer.echo(f"cancelled {run}")
    return 0


def worker_command(
    worker_id: Annotated[
        str | None, typer.Option("--id", help="This worker's executor id (default: host-pid).")
    ] = None,
    config: Annotated[Path | None, _CONFIG] = None,
    otel_endpoint: Annotated[
        str | None,
        typer.Option(
            "--otel-endpoint",
            help="Send each run's OpenTelemetry trace to this OTLP/HTTP collector (or "
            "OTEL_EXPORTER_OTLP_ENDPOINT).",
        ),
    ] = None,
) -> int:
    """Execute the fleet's runs until stopped (Ctrl-C or SIGTERM); recover dead workers' runs."""
    _require()
    import threading

    from assay import tracing
    from assay.fleet.runtime import Worker
    from assay.terminal import info_console, literal

    # The worker's own environment names the collector: a run's description never holds one.
    traces = tracing.exporter(tracing.endpoint(otel_endpoint, os.environ))
    worker = Worker(_settings(config), executor_id=worker_id)
    worker.launch()
    info_console(stderr=True).print(
        f"worker [bold]{literal(worker.executor_id)}[/] on {literal(worker.db.redacted())}"
    )
    try:
        with tracing.exporting(traces):
            worker.serve(threading.Event())
    finally:
        worker.close()
    return 0


fleet_app.command("submit")(submit_command)
fleet_app.command("status")(status_command)
fleet_app.command("cancel")(cancel_command)


def register(app: typer.Typer) -> None:
    """Attach `assay fleet`."""
    app.add_typer(fleet_app, name="fleet")

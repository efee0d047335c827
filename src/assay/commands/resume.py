"""`assay resume RUN`: continue a run from its last completed step (after a crash or an outage).

The spec, the settings and the scenarios folder come from the run's ``run.started`` event, so the
resumed run is the same run; only the models are configured again (flags, env, config).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from assay._extras import require_factory
from assay.errors import UserError
from assay.ledger import LEDGER_FILE

__all__ = ["find_run", "register"]


def find_run(run: str, runs_dir: Path) -> Path:
    """The run folder named by `run`: a path, or an id under `runs_dir`."""
    for candidate in (Path(run), runs_dir / run):
        if (candidate / LEDGER_FILE).is_file():
            return candidate.resolve()
    raise UserError(f"no run '{run}' (looked for {LEDGER_FILE} in {run} and {runs_dir / run})")


def resume_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run folder or run id.")],
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")] = Path("runs"),
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    strong_model: Annotated[str | None, typer.Option("--strong-model")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url")] = None,
    no_live: Annotated[bool, typer.Option("--no-live", help="No live progress display.")] = False,
) -> int:
    """Resume RUN. Exit 0 converged, 1 stopped otherwise, 2 usage error, 3 run error."""
    require_factory("assay resume")
    from assay.commands._factory import (
        build_role_models,
        check_sandbox,
        execute,
        scenario_validator,
        select_gates,
    )
    from assay.commands.runs import print_shortfall
    from assay.config import Settings
    from assay.factory.loop import Factory
    from assay.ledger import Ledger, load_or_create_signer
    from assay.ledger.kinds import RUN_STARTED
    from assay.messages import Spec
    from assay.plugins import make_plugin_manager
    from assay.plugins import roles as plugin_roles
    from assay.terminal import info_console, literal

    run_dir = find_run(run, runs_dir)
    with Ledger.open(run_dir, create=False, check=True) as ledger:
        started = ledger.completed("run.started")
        if started is None or started.kind != RUN_STARTED:
            raise UserError(f"{run_dir}: the run never started; start it again with assay run")
        info = started.payload
        spec = Spec.model_validate_json(ledger.get_blob(info["spec_blob"]))
    settings = Settings.model_validate(info["settings"])
    env = dict(os.environ)
    pm = make_plugin_manager(settings=settings)
    models = build_role_models(
        settings, env=env, model=model, strong=strong_model, base_url=base_url, plugins=pm
    )
    scenarios = Path(info["scenarios_dir"]) if info.get("scenarios_dir") else None
    if scenarios is not None and not scenarios.exists():
        raise UserError(f"the run's scenarios folder is gone: {scenarios}")
    validator = scenario_validator(scenarios, settings, env, info, pm)
    gates = select_gates(settings.factory.gates, settings, pm)
    check_sandbox(settings, gates, validator)
    factory = Factory(
        run_dir, spec=spec, settings=settings, models=models, gates=gates,
        validator=validator, signer=load_or_create_signer(), roles=plugin_roles(pm),
    )  # fmt: skip
    notes = info_console(stderr=True)
    notes.print(f"resuming [bold]{literal(run_dir.name)}[/]")
    outcome = execute(factory, run_dir.name, notes, live=not no_live)
    print_shortfall(notes, run_dir)  # the last line: what the missing points were
    return 0 if outcome.outcome == "converged" else 1


def register(app: typer.Typer) -> None:
    """Attach `assay resume`."""
    app.command("resume")(resume_command)

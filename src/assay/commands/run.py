"""`assay run SPEC`: spec in, a gated service in ``runs/<id>/workspace`` out, all in the ledger.

This module is the command line only: it describes the run from its flags, config and
environment (`assay.commands._compose.describe_run`) and has `compose` wire the factory. Both are
imported once the ``factory`` extra is known to be installed, so ``assay run --help`` is quick
and a missing extra is a clear error (exit 2), not an ImportError.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from assay._extras import require_factory

__all__ = ["register"]


def run_command(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec (Markdown).")],
    scenarios: Annotated[
        Path | None, typer.Option("--scenarios", "-s", help="Holdout scenarios folder.")
    ] = None,
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")] = Path("runs"),
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model for every role, e.g. openai:gpt-4.1.")
    ] = None,
    architect_model: Annotated[str | None, typer.Option("--architect-model")] = None,
    tester_model: Annotated[str | None, typer.Option("--tester-model")] = None,
    coder_model: Annotated[str | None, typer.Option("--coder-model")] = None,
    reviewer_model: Annotated[str | None, typer.Option("--security-reviewer-model")] = None,
    preflight_model: Annotated[
        str | None, typer.Option("--preflight-model", help="The spec's clarity reviewer.")
    ] = None,
    skip_preflight: Annotated[
        bool,
        typer.Option("--skip-preflight", help="Build without checking the spec's clarity first."),
    ] = False,
    strong_model: Annotated[
        str | None, typer.Option("--strong-model", help="Coder escalation model after a stall.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server (Ollama, vLLM).")
    ] = None,
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="Scenario judge (or ASSAY_JUDGE_MODEL).")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option("--max-iterations", min=1)] = None,
    max_dollars: Annotated[float | None, typer.Option("--max-dollars", min=0.0)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1)] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", min=0, max=100)] = None,
    leak: Annotated[
        str | None, typer.Option("--leak", help="none | titles | reasons (scenario feedback).")
    ] = None,
    gates: Annotated[
        list[str] | None, typer.Option("--gate", help="Run only this gate (repeatable).")
    ] = None,
    stratified: Annotated[
        bool,
        typer.Option(
            "--stratified", help="Converge scenario tiers 1, 2, 3 in order (higher tiers wait)."
        ),
    ] = False,
    block_on_regression: Annotated[
        bool,
        typer.Option(
            "--block-on-regression",
            help="Refuse convergence while a scenario that passed earlier fails.",
        ),
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", help="assay.toml to use.")] = None,
    house_style: Annotated[
        Path | None,
        typer.Option(
            "--house-style", help="house-style.json from assay extract, for architect and coder."
        ),
    ] = None,
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
    """Build SPEC into a gated service. Exit 0 converged, 1 stopped otherwise, 2 usage error."""
    require_factory("assay run")
    from assay import tracing
    from assay.commands._compose import compose, describe_run, new_run_id
    from assay.commands._factory import execute
    from assay.commands.preflight import print_preflight
    from assay.commands.runs import print_shortfall
    from assay.config import find_first_config, load_settings
    from assay.errors import UserError
    from assay.spec import load_spec
    from assay.terminal import info_console, literal

    spec = load_spec(spec_path)
    if scenarios is not None and not scenarios.exists():
        raise UserError(f"scenarios folder does not exist: {scenarios}")
    # the project the user stands in, then the spec's folder (`assay run ../input/spec.md`)
    where = config if config is not None else find_first_config(Path.cwd(), spec_path.resolve())
    settings = load_settings(where)
    info_console(stderr=True).print(
        f"config: {literal(settings.source)}" if settings.source else "config: none (defaults)"
    )
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "max_iterations": max_iterations, "max_dollars": max_dollars, "max_tokens": max_tokens,
            "threshold": threshold, "leak": leak, "gates": gates or None,
            # a flag turns it on; off is the config's (`[tool.assay.factory] stratified = true`)
            "stratified": stratified or None, "block_on_regression": block_on_regression or None,
        }.items()
        if v is not None
    }  # fmt: skip
    if overrides:
        factory_cfg = settings.factory.model_validate(settings.factory.model_dump() | overrides)
        settings = settings.model_copy(update={"factory": factory_cfg})
    env = dict(os.environ)
    per_role = {
        "architect": architect_model, "tester": tester_model, "coder": coder_model,
        "security-reviewer": reviewer_model,
    }  # fmt: skip
    description = describe_run(
        spec, settings, run_dir=runs_dir / new_run_id(spec), scenarios=scenarios, env=env,
        model=model, per_role=per_role, strong=strong_model, base_url=base_url,
        judge_model=judge_model, house_style=house_style, preflight_model=preflight_model,
        skip_preflight=skip_preflight,
    )  # fmt: skip
    # before the run folder exists: a bad URL or a missing extra stops nothing half-made
    traces = tracing.exporter(tracing.endpoint(otel_endpoint, env))
    factory = compose(description, env=env)
    notes = info_console(stderr=True)
    notes.print(f"run [bold]{literal(description.run_id)}[/] in {literal(description.run_dir)}")
    with tracing.exporting(traces):
        outcome = execute(factory, description.run_id, notes, live=not no_live)
    if outcome.outcome == "preflight":  # stopped before the architect: say what to fix
        print_preflight(notes, description.run_dir)
    print_shortfall(notes, description.run_dir)  # the last line: what the missing points were
    return 0 if outcome.outcome == "converged" else 1


def register(app: typer.Typer) -> None:
    """Attach `assay run`."""
    app.command("run")(run_command)

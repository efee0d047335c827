"""`assay preflight SPEC`: is the spec clear enough to build from? Findings, scores, questions.

The deterministic rules run first (`assay.agents.preflight.rules`); then, unless ``--no-model``,
the clarity reviewer (`assay.agents.preflight.review`) on the model ``--model``,
``ASSAY_PREFLIGHT_MODEL``, ``ASSAY_MODEL``, ``[tool.assay.models] preflight`` / ``default``, else
the architect's (`resolve_preflight_model`). Exit 0 when the spec passes ``[tool.assay.preflight]
threshold`` (``--threshold``), 1 below it or with an error finding, 2 for a usage error. `assay
run` runs the same check before its architect and prints its report with `print_report`.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from assay.agents.preflight.rules import body_first_line, check_spec
from assay.agents.preflight.verdict import make_report, what_to_fix
from assay.config import Settings, find_first_config, load_settings
from assay.errors import UserError
from assay.messages import PreflightReport, PreflightReview, Spec
from assay.spec import load_spec
from assay.terminal import console, info_console, literal

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = ["print_preflight", "print_report", "register"]


def print_report(out: Console, report: PreflightReport) -> None:
    """The findings (``file:line: rule message``), the scores and the questions, then the
    verdict."""
    where = report.source or report.spec
    for f in report.findings:
        colour = "red" if f.severity == "error" else "yellow"
        out.print(
            f"{literal(where)}:{f.line}: [{colour}]{f.rule_id}[/] {literal(f.message)}; "
            f"fix: {literal(f.fix)}"
        )
    review = report.review
    if review is not None:
        s = review.scores
        out.print(
            f"clarity {review.overall:.2f} ({literal(report.model)}): completeness "
            f"{s.completeness:.2f}, ambiguity {s.ambiguity:.2f}, testability {s.testability:.2f},"
            f" consistency {s.consistency:.2f}"
        )
        if review.summary:
            out.print(literal(review.summary))
        for n, question in enumerate(review.questions, 1):
            out.print(f"  {n}. {literal(question)}")
    verdict = "[green]passed[/]" if report.passed else "[bold red]below the bar[/]"
    scored = "not reviewed by a model" if report.score is None else f"clarity {report.score:.2f}"
    errors = sum(1 for f in report.findings if f.severity == "error")
    out.print(
        f"preflight {verdict}: {scored}, threshold {report.threshold:.2f}; "
        f"{len(report.findings)} finding(s), {errors} error(s)"
    )
    if not report.passed:
        out.print(f"what to fix: {len(what_to_fix(report))} item(s) above")


def print_preflight(out: Console, run_dir: Path) -> None:
    """The preflight report a run recorded in its ledger (nothing when it recorded none)."""
    from assay.factory import events as ev
    from assay.ledger import Ledger

    with Ledger.open(run_dir, create=False) as ledger:
        found = list(ev.all_of(ev.PreflightChecked, ledger.events()))
    if found:
        print_report(out, found[-1].report)


def _reviewer(
    settings: Settings, env: dict[str, str], model: str | None, base_url: str | None
) -> tuple[Model, str]:
    """The reviewer's model and its label: a scripted one in tests, else the configured one."""
    from assay._extras import require_factory

    require_factory("assay preflight without --no-model")
    from assay.agents.models import build_model, resolve_preflight_model, role_choice
    from assay.plugins import make_plugin_manager
    from assay.testing import TESTING_MODELS_ENV, models_from_env

    scripted = models_from_env(env)
    if scripted is not None:
        if "preflight" not in scripted:
            raise UserError(f"{TESTING_MODELS_ENV}: no model for preflight")
        return scripted["preflight"], "scripted:preflight"
    architect = role_choice(settings.models, "architect", env=env, model=model)
    chosen = resolve_preflight_model(
        settings.models, env=env, model=model, architect=architect.model if architect else None
    )
    if chosen is None:
        raise UserError(
            "no model configured for preflight: set --model, ASSAY_PREFLIGHT_MODEL, ASSAY_MODEL "
            "or [tool.assay.models] preflight / default; or pass --no-model for the "
            "deterministic checks only"
        )
    built = build_model(
        chosen.model, env=env, plugins=make_plugin_manager(settings=settings),
        base_url=base_url or settings.models.base_url, timeout_s=settings.models.timeout_s,
        retries=settings.models.retries,
    )  # fmt: skip
    return built, chosen.model


def _review(model: Model, spec: Spec, report: PreflightReport, first: int, label: str) -> (
    PreflightReview
):  # fmt: skip
    from assay.agents.preflight.review import review_alone

    return asyncio.run(review_alone(model, spec, report.findings, first_line=first, label=label))


def preflight_command(
    spec_path: Annotated[Path, typer.Argument(metavar="SPEC", help="The spec (Markdown).")],
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Only the deterministic checks; no model.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The reviewer's model, e.g. openai:gpt-4.1.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server (Ollama, vLLM).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", min=0, max=1, help="Clarity needed, 0..1.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="assay.toml to use.")] = None,
) -> int:
    """Check a spec before building it. Exit 0 at/above the threshold, 1 below, 2 usage error."""
    spec = load_spec(spec_path)
    where = config if config is not None else find_first_config(Path.cwd(), spec_path.resolve())
    settings = load_settings(where)
    bar = settings.preflight.threshold if threshold is None else threshold
    first = body_first_line(spec)
    findings = check_spec(
        spec, dependencies=settings.dependencies, regulated=settings.regulated, first_line=first
    )
    report = make_report(spec, findings, None, threshold=bar)
    if not no_model:
        env = dict(os.environ)
        reviewer, label = _reviewer(settings, env, model, base_url)
        info_console(stderr=True).print(f"reviewing {literal(spec.name)} with {literal(label)}")
        review = _review(reviewer, spec, report, first, label)
        report = make_report(spec, findings, review, threshold=bar, model=label)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        print_report(console(), report)
    return 0 if report.passed else 1


def register(app: typer.Typer) -> None:
    """Attach `assay preflight`."""
    app.command("preflight")(preflight_command)

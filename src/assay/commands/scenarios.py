"""`assay scenarios lint DIR`: check holdout scenario files; every problem has file:line:col.
`assay scenarios compile DIR --judge-model M`: propose ``assert`` clauses for what the judge
would read, into a new folder for review (`assay.scenarios.compiler`)."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assay.config import find_config, load_settings
from assay.errors import UserError
from assay.scenarios.loader import LoadResult, load_dir
from assay.scenarios.model import Scenario, Step
from assay.scenarios.problems import Problem
from assay.scenarios.runner import step_checks
from assay.terminal import console, info_console, literal

__all__ = ["register"]

app = typer.Typer(help="Holdout scenarios: lint them, see what is checked without a model.")


class LintFormat(enum.StrEnum):
    """What `assay scenarios lint --format` can write."""

    TEXT = "text"
    JSON = "json"


@app.command("lint")
def lint_command(
    path: Annotated[Path, typer.Argument(help="A scenario file or a folder of them.")],
    fmt: Annotated[LintFormat, typer.Option("--format", "-f", help="Output format.")] = (
        LintFormat.TEXT
    ),
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too.")] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show each step's rules and what a model judges."),
    ] = False,
) -> int:
    """Lint scenario files. Exit 0 clean, 1 errors (or warnings with --strict), 2 usage error."""
    if not path.exists():
        raise UserError(f"path does not exist: {path}")
    result = load_dir(path)
    steps = [st for sc in result.scenarios for st in sc.steps]
    decided = sum(1 for st in steps if _without_model(st))
    failed = bool(result.errors) or (strict and bool(result.warnings))
    if fmt is LintFormat.JSON:
        typer.echo(json.dumps(_json_summary(result, len(steps), decided), indent=2))
        return 1 if failed else 0
    out = console()
    _print_problems(out, result.problems)
    if explain:
        _print_explanation(out, result.scenarios)
    share = f"{decided}/{len(steps)} steps decided without a model" if steps else "no steps"
    info_console().print(
        f"{result.files} file(s), {len(result.scenarios)} scenario(s): "
        f"{len(result.errors)} error(s), {len(result.warnings)} warning(s); {share}"
    )
    return 1 if failed else 0


def _json_summary(result: LoadResult, steps: int, decided: int) -> dict[str, Any]:
    """The ``--format json`` document: counts and every problem."""
    return {
        "files": result.files,
        "scenarios": len(result.scenarios),
        "errors": len(result.errors),
        "warnings": len(result.warnings),
        "steps": steps,
        "steps_without_model": decided,
        "problems": [dataclasses.asdict(p) for p in result.problems],
    }


def _print_problems(out: Console, problems: Sequence[Problem]) -> None:
    """One whole ``file:line:col: RULE message`` line per problem, errors red, warnings yellow."""
    for p in problems:
        colour = "red" if p.severity == "error" else "yellow"
        out.print(
            f"{literal(p.file)}:{p.line}:{p.col}: [{colour}]{literal(p.rule)}[/] "
            f"{literal(p.message)}"
        )


def _print_explanation(out: Console, scenarios: Sequence[Scenario]) -> None:
    """For each step, the checks decided by rule and the sentences left to the judge."""
    for sc in scenarios:
        for st in sc.steps:
            checks, rest = step_checks(st)
            out.print(f"[bold]{literal(st.where)}[/] {literal(sc.id)}: {literal(st.description)}")
            for c in checks:
                out.print(f"    [green]rule[/]  {literal(c.description)}")
            for sentence in rest:
                out.print(f"    [yellow]judge[/] {literal(sentence)}")


def _without_model(step: Step) -> bool:
    checks, rest = step_checks(step)
    return bool(checks) and not rest


@app.command("compile")
def compile_command(
    path: Annotated[Path, typer.Argument(help="A folder of scenario files.")],
    judge_model: Annotated[
        str | None,
        typer.Option("--judge-model", help="The model asked, e.g. anthropic:claude-haiku-4-5."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where the compiled files go. Default: DIR-compiled beside."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write over a folder that is not empty.")
    ] = False,
) -> int:
    """Ask a model once per step left to the judge for assert clauses it is sure of; write the
    files, each change linted, for a person to review. Exit 0 written, 2 usage error."""
    from assay.agents.judge import judge_model_from_env
    from assay.plugins import make_plugin_manager
    from assay.scenarios.compiler import compile_dir

    target = out if out is not None else path.parent / f"{path.name}-compiled"
    settings = load_settings(find_config(Path.cwd()))
    pm = make_plugin_manager(settings=settings)
    model = judge_model_from_env(
        judge_model, env=os.environ, plugins=pm, models=settings.models,
        base_url=settings.models.base_url,
    )  # fmt: skip
    if model is None:
        raise UserError("assay scenarios compile needs --judge-model (or ASSAY_JUDGE_MODEL)")
    done = asyncio.run(
        compile_dir(
            path, model, out=target, force=force,
            concurrency=settings.scenarios.judge_concurrency,
        )
    )  # fmt: skip
    out_console = console()
    for step in done.steps:
        detail = f": {literal(step.detail)}" if step.detail else ""
        out_console.print(f"{literal(step.where)}: {step.outcome}{detail}")
    info_console().print(
        f"{done.files} file(s) written to {literal(done.out)}: {done.count('compiled')} step(s) "
        f"compiled, {done.count('partly')} partly, {done.count('refused')} refused, "
        f"{done.count('unsure')} unsure, {done.count('not-asked')} not asked; steps decided "
        f"without a model {done.decided_before}/{done.total} -> {done.decided_after}/{done.total}"
        "; review the assert clauses against the comments, then commit"
    )
    return 0


def register(root: typer.Typer) -> None:
    """Attach `assay scenarios`."""
    root.add_typer(app, name="scenarios")

"""`assay validate`: run holdout scenarios against a service and score it against a threshold.

With ``--code DIR`` the service (``--start``) and every exec step run in a sandbox on DIR
(``--sandbox``, default ``[tool.assay.sandbox] backend``, i.e. ``auto``); with ``--target URL``
the service is someone else's and no sandbox is involved.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.agents.judge import DEFAULT_SAMPLES, judge_model_from_env, make_judge
from assay.config import Settings, find_config, load_settings
from assay.errors import UserError
from assay.sandbox import Sandbox
from assay.scenarios.executor import Executor, SandboxExecutor, SubprocessExecutor
from assay.scenarios.launch import start_service
from assay.scenarios.loader import load_dir
from assay.scenarios.model import Scenario
from assay.scenarios.report import print_report, to_json, to_junit
from assay.scenarios.results import ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner
from assay.scenarios.scoring import DEFAULT_THRESHOLD
from assay.terminal import console, info_console, literal

if TYPE_CHECKING:
    from assay.plugins import AssayPluginManager

__all__ = ["ValidateFormat", "open_code_sandbox", "register", "run_validation"]


class ValidateFormat(enum.StrEnum):
    """What `assay validate --format` can write."""

    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"


def open_code_sandbox(
    code: Path, settings: Settings, backend: str | None, plugins: AssayPluginManager
) -> Sandbox:
    """The sandbox `--code` runs in: `backend` or the configured one, assay's Python read-only.

    A backend that is not built in comes from `plugins`, the command's manager. Raises
    `SandboxUnavailable` (what to install) when none is available and none was named.
    """
    from assay.sandbox import open_sandbox
    from assay.sandbox.select import interpreter_paths, resolve_backend

    name = resolve_backend(settings.sandbox, backend)
    return open_sandbox(
        code,
        settings.sandbox,
        regulated=settings.regulated,
        backend=name,
        ro_paths=interpreter_paths(),
        plugins=plugins,
    )


@contextlib.asynccontextmanager
async def _service(
    options: RunOptions,
    sandbox: Sandbox | None,
    start: str | None,
    health_path: str | None,
    start_timeout: float,
) -> AsyncIterator[None]:
    if sandbox is not None and start is not None:
        async with start_service(
            start, sandbox=sandbox, health_path=health_path, timeout=start_timeout
        ) as svc:
            options.target = svc.url
            options.transport = svc.transport
            options.diagnose = svc.diagnose
            yield
    else:
        yield


async def run_validation(
    scenarios: list[Scenario],
    options: RunOptions,
    *,
    sandbox: Sandbox | None = None,
    start: str | None = None,
    health_path: str | None = None,
    start_timeout: float = 30.0,
) -> ValidationReport:
    """Start the service in `sandbox` when asked, run the scenarios, and return the report."""
    async with _service(options, sandbox, start, health_path, start_timeout):
        return await ScenarioRunner(options).run(scenarios)


def _check_numbers(threshold: float, parallel: int, *timeouts: float) -> None:
    # checked here, not by typer, so a bad value is a one-line usage error (exit 2)
    if not 0 <= threshold <= 100:
        raise UserError(f"--threshold must be between 0 and 100, got {threshold:g}")
    if parallel < 1:
        raise UserError(f"--parallel must be at least 1, got {parallel}")
    if any(t <= 0 for t in timeouts):
        raise UserError("--start-timeout and --request-timeout must be positive")


def _check_flags(
    target: str | None, code: Path | None, start: str | None, sandbox: str | None
) -> None:
    if (target is None) == (code is None):
        raise UserError("give exactly one of --target URL or --code DIR (with --start CMD)")
    if target is not None and not target.startswith(("http://", "https://")):
        raise UserError(f"--target must be an http:// or https:// URL, got {target!r}")
    if start is not None and code is None:
        raise UserError("--start needs --code DIR (the folder the command runs in)")
    if code is not None and not code.is_dir():
        raise UserError(f"--code folder does not exist: {code}")
    if sandbox is not None and code is None:
        raise UserError("--sandbox applies to --code DIR; a --target service is not assay's to run")


def validate_command(
    scenarios: Annotated[
        Path, typer.Option("--scenarios", "-s", help="Folder (or file) of scenario YAML.")
    ],
    target: Annotated[
        str | None, typer.Option("--target", help="Base URL of a running service.")
    ] = None,
    code: Annotated[
        Path | None, typer.Option("--code", help="The service's folder (commands run here).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--start", help="Command starting the service; it reads $PORT.")
    ] = None,
    health_path: Annotated[
        str | None,
        typer.Option("--health-path", help="Path that must answer 2xx (default: any answer on /)."),
    ] = None,
    start_timeout: Annotated[
        float, typer.Option("--start-timeout", help="Seconds to wait for health.")
    ] = 30.0,
    sandbox: Annotated[
        str | None,
        typer.Option(
            "--sandbox",
            help="Where --code runs: auto | bwrap | docker | local (no isolation) | a plugin's "
            "backend. Default: [tool.assay.sandbox] backend (auto).",
        ),
    ] = None,
    fmt: Annotated[
        ValidateFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ValidateFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Satisfaction needed to pass.")
    ] = DEFAULT_THRESHOLD,
    parallel: Annotated[int, typer.Option("--parallel", "-p", help="Scenarios run at once.")] = 1,
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", help="Seconds per HTTP request.")
    ] = 10.0,
    judge_model: Annotated[
        str | None,
        typer.Option(
            "--judge-model", help="e.g. anthropic:claude-sonnet-4-5 (or ASSAY_JUDGE_MODEL)."
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option("--judge-base-url", help="OpenAI-compatible server (Ollama, vLLM)."),
    ] = None,
    judge_name: Annotated[
        str | None,
        typer.Option("--judge", help="A judge offered by a plugin (or ASSAY_JUDGE)."),
    ] = None,
    judge_samples: Annotated[
        int, typer.Option("--judge-samples", help="Judge calls per step.")
    ] = DEFAULT_SAMPLES,
    judge_temperature: Annotated[
        float | None, typer.Option("--judge-temperature", help="Judge temperature.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every step.")] = False,
) -> int:
    """Run scenarios against a service. Exit 0 at/above the threshold, 1 below, 2 usage error."""
    _check_flags(target, code, start, sandbox)
    _check_numbers(threshold, parallel, start_timeout, request_timeout)
    loaded = load_dir(scenarios)
    loaded.raise_for_errors()
    code_dir = code.resolve() if code else None
    settings = load_settings(find_config(code_dir or Path.cwd()))
    from assay.plugins import make_plugin_manager

    # One plugin manager for the whole command, under the project's [plugins] (block, require):
    # the judge's model provider, a plugin judge and a plugin sandbox all come from it.
    pm = make_plugin_manager(settings=settings)
    model = judge_model_from_env(
        judge_model, env=os.environ, plugins=pm, models=settings.models, base_url=judge_base_url
    )
    judge = make_judge(
        judge_name or os.environ.get("ASSAY_JUDGE"),
        model,
        samples=judge_samples,
        temperature=judge_temperature,
        agree_within=settings.scenarios.judge_agree_within,
        pass_score=threshold,
        plugins=pm,
    )
    box = open_code_sandbox(code_dir, settings, sandbox, pm) if code_dir is not None else None
    executor: Executor = SandboxExecutor(box) if box is not None else SubprocessExecutor()
    options = RunOptions(
        target=target.rstrip("/") if target else None,
        executor=executor,
        judge=judge,
        threshold=threshold,
        parallel=parallel,
        request_timeout=request_timeout,
        judge_concurrency=settings.scenarios.judge_concurrency,
    )
    try:
        report = asyncio.run(
            run_validation(
                loaded.scenarios,
                options,
                sandbox=box,
                start=start,
                health_path=health_path,
                start_timeout=start_timeout,
            )
        )
    finally:
        if box is not None:
            box.close()
    to_stderr = fmt is not ValidateFormat.TEXT or output is not None
    notes = info_console(stderr=to_stderr)
    if fmt is ValidateFormat.TEXT:
        print_report(console(stderr=to_stderr), notes, report, verbose=verbose)
        if output is not None:
            output.write_text(to_json(report), encoding="utf-8")
    else:
        text = to_json(report) if fmt is ValidateFormat.JSON else to_junit(report)
        if output is not None:
            output.write_text(text, encoding="utf-8")
            notes.print(f"{literal(report.summary)}; {fmt} report written to {literal(output)}")
        else:
            typer.echo(text)
    return 0 if report.passed else 1


def register(app: typer.Typer) -> None:
    """Attach `assay validate`."""
    app.command("validate")(validate_command)

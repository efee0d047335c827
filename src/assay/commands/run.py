"""`assay run SPEC`: spec in, a gated service in ``runs/<id>/workspace`` out, all in the ledger.

Generated code is untrusted: the holdout service, its exec steps and the pytest gate run in the
``[tool.assay.sandbox]`` backend (``auto``: docker, else bwrap). When no backend is available the
run stops before it starts, saying what to install. Plugins (``[tool.assay.plugins]``) are loaded
once and supply gates, model providers (``<provider>:<model>``), sandbox backends, judges
(``ASSAY_JUDGE``) and role agents (``assay_roles``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from assay.agents.judge import JUDGE_ENV, judge_model_from_env, make_judge
from assay.agents.models import ROLES, build_model, resolve_models
from assay.commands._holdout import ScenarioValidator
from assay.config import Settings, find_config, load_settings
from assay.errors import UserError
from assay.factory.loop import Factory, Progress, RoleModels, RunOutcome
from assay.gates.base import Gate
from assay.gates.pytest_gate import PytestGate
from assay.ledger import load_or_create_signer
from assay.messages import Spec
from assay.plugins import AssayPluginManager, make_plugin_manager
from assay.plugins import gates as plugin_gates
from assay.plugins import roles as plugin_roles
from assay.scenarios.loader import load_dir
from assay.spec import load_spec
from assay.testing import TESTING_MODELS_ENV, models_from_env

__all__ = [
    "build_role_models",
    "check_sandbox",
    "execute",
    "register",
    "scenario_validator",
    "select_gates",
]

_STATE_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "running": "cyan"}


def build_role_models(
    settings: Settings,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    per_role: Mapping[str, str | None] | None = None,
    strong: str | None = None,
    base_url: str | None = None,
    plugins: AssayPluginManager | None = None,
) -> RoleModels:
    """The four roles' models from flags, env and config (or the ``assay.testing`` hook).

    Providers other than ``anthropic`` and ``openai`` come from `plugins`.
    """
    scripted = models_from_env(env)
    if scripted is not None:
        missing = [r for r in ROLES if r not in scripted]
        if missing:
            raise UserError(f"{TESTING_MODELS_ENV}: no model for {', '.join(missing)}")
        labels = {r: f"scripted:{r}" for r in ROLES} | {"strong": "scripted:strong"}
        return RoleModels(
            architect=scripted["architect"], tester=scripted["tester"], coder=scripted["coder"],
            reviewer=scripted["security-reviewer"], labels=labels, strong=scripted.get("strong"),
        )  # fmt: skip
    chosen = resolve_models(settings.models, env=env, model=model, per_role=per_role)
    url = base_url or settings.models.base_url
    built = {
        role: build_model(c.model, env=env, base_url=url, plugins=plugins)
        for role, c in chosen.items()
    }
    strong_name = strong or env.get("ASSAY_STRONG_MODEL") or settings.models.strong
    labels = {role: c.model for role, c in chosen.items()}
    if strong_name:
        labels["strong"] = strong_name
    return RoleModels(
        architect=built["architect"], tester=built["tester"], coder=built["coder"],
        reviewer=built["security-reviewer"], labels=labels,
        strong=build_model(strong_name, env=env, base_url=url, plugins=plugins)
        if strong_name
        else None,
    )  # fmt: skip


def select_gates(
    names: list[str],
    settings: Settings | None = None,
    plugins: AssayPluginManager | None = None,
) -> list[Gate]:
    """The installed gates named in `names` (all when empty); pytest runs in the sandbox.

    The built-in pytest gate is replaced by one built with ``untrusted=True``: generated tests
    always run in a sandbox, whatever ``[tool.assay.gates.pytest] sandbox`` says.
    """
    pm = plugins if plugins is not None else make_plugin_manager(settings=settings)
    gates: list[Gate] = [
        PytestGate(settings=settings, untrusted=True, plugins=pm)
        if isinstance(g, PytestGate)
        else g
        for g in plugin_gates(pm)
    ]
    if not names:
        return gates
    known = {g.name: g for g in gates}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"unknown gate(s) {', '.join(unknown)}; installed: {', '.join(known)}")
    return [known[n] for n in names]


def check_sandbox(settings: Settings, gates: list[Gate], validator: object | None) -> None:
    """Fail before the run starts when generated code will need a sandbox and none is here."""
    if validator is None and not any(isinstance(g, PytestGate) for g in gates):
        return
    from assay.sandbox.select import resolve_backend

    resolve_backend(settings.sandbox)


def _view(run_id: str, p: Progress) -> Group:
    head = Table.grid(padding=(0, 2))
    for _ in range(7):
        head.add_column()
    score = "-" if p.score is None else f"{p.score:.1f}"
    best = "-" if p.best is None else f"{p.best:.1f}"
    sat = "-" if p.satisfaction is None else f"{p.satisfaction:.0f}%"
    head.add_row(
        f"[bold]{run_id}[/]", f"iteration {p.iteration}", p.phase, f"score {score} (best {best})",
        f"scenarios {sat}", f"{p.tokens:,} tokens", f"${p.dollars:.4f}",
    )  # fmt: skip
    gates = Text()
    for name, state in p.gates.items():
        gates.append(f"{name}:", style="bold")
        gates.append(f"{state}  ", style=_STATE_STYLE.get(state, "yellow"))
    return Group(head, gates)


def execute(factory: Factory, run_id: str, console: Console, *, live: bool) -> RunOutcome:
    """Run `factory` with a live progress view; print the outcome."""
    if live:
        with Live(_view(run_id, factory.progress), console=console, refresh_per_second=8) as view:
            factory.on_progress = lambda p: view.update(_view(run_id, p))
            outcome = asyncio.run(factory.run())
    else:
        outcome = asyncio.run(factory.run())
    colour = "green" if outcome.outcome == "converged" else "yellow"
    console.print(
        f"[bold {colour}]{outcome.outcome}[/] after {outcome.iterations} iteration(s); best "
        f"iteration {outcome.best_iteration} (score {outcome.best_score:.1f}); "
        f"{outcome.tokens:,} tokens, ${outcome.dollars:.4f}\n"
        f"workspace: {factory.workspace}\nledger:    {factory.ledger.path}",
        highlight=False,
    )
    return outcome


def scenario_validator(
    scenarios: Path | None,
    settings: Settings,
    env: Mapping[str, str],
    info: dict[str, Any],
    plugins: AssayPluginManager | None = None,
) -> ScenarioValidator | None:
    """The holdout validator for `scenarios` (None without a folder), serving from the sandbox."""
    if scenarios is None:
        return None
    loaded = load_dir(scenarios)
    loaded.raise_for_errors()
    model_name = info.get("judge_model") or None
    model = judge_model_from_env(model_name, env=env, base_url=settings.models.base_url)
    judge = make_judge(info.get("judge") or None, model, settings=settings, plugins=plugins)
    return ScenarioValidator(
        loaded.scenarios,
        judge=judge,
        threshold=settings.factory.threshold,
        sandbox=settings.sandbox,
        regulated=settings.regulated,
        plugins=plugins,
    )


def _run_id(spec: Spec) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.name}-{stamp}-{secrets.token_hex(2)}"


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
    config: Annotated[Path | None, typer.Option("--config", help="assay.toml to use.")] = None,
    no_live: Annotated[bool, typer.Option("--no-live", help="No live progress display.")] = False,
) -> int:
    """Build SPEC into a gated service. Exit 0 converged, 1 stopped otherwise, 2 usage error."""
    spec = load_spec(spec_path)
    if scenarios is not None and not scenarios.exists():
        raise UserError(f"scenarios folder does not exist: {scenarios}")
    settings = load_settings(config if config is not None else find_config(spec_path.resolve()))
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "max_iterations": max_iterations, "max_dollars": max_dollars, "max_tokens": max_tokens,
            "threshold": threshold, "leak": leak, "gates": gates or None,
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
    pm = make_plugin_manager(settings=settings)
    models = build_role_models(
        settings, env=env, model=model, per_role=per_role, strong=strong_model, base_url=base_url,
        plugins=pm,
    )  # fmt: skip
    info = {
        "scenarios_dir": str(scenarios.resolve()) if scenarios else None,
        "judge_model": judge_model or env.get("ASSAY_JUDGE_MODEL") or "",
        "judge": env.get(JUDGE_ENV) or "",
    }
    validator = scenario_validator(scenarios, settings, env, info, pm)
    gates_used = select_gates(settings.factory.gates, settings, pm)
    check_sandbox(settings, gates_used, validator)
    run_id = _run_id(spec)
    run_dir = runs_dir.resolve() / run_id
    factory = Factory(
        run_dir, spec=spec, settings=settings, models=models, gates=gates_used,
        validator=validator, signer=load_or_create_signer(), roles=plugin_roles(pm), run_info=info,
    )  # fmt: skip
    console = Console(stderr=True)
    console.print(f"run [bold]{run_id}[/] in {run_dir}", highlight=False)
    outcome = execute(factory, run_id, console, live=not no_live and console.is_terminal)
    return 0 if outcome.outcome == "converged" else 1


def register(app: typer.Typer) -> None:
    """Attach `assay run`."""
    app.command("run")(run_command)

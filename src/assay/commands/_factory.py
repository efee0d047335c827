"""What `assay run` and `assay resume` share: a `Factory` assembled from settings, flags and
plugins, and its progress shown as it runs. Needs the ``factory`` extra (pydantic-ai); the command
modules import this one only once they have checked it is installed.

Generated code is untrusted: the holdout service, its exec steps and the pytest gate run in the
``[tool.assay.sandbox]`` backend (``auto``: docker, else bwrap). When no backend is available the
run stops before it starts, saying what to install. Plugins (``[tool.assay.plugins]``) are loaded
once and supply gates, model providers (``<provider>:<model>``), sandbox backends, judges
(``ASSAY_JUDGE``) and role agents (``assay_roles``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from assay.agents.judge import judge_model_from_env, make_judge
from assay.agents.models import ROLES, build_model, resolve_models
from assay.commands._holdout import ScenarioValidator
from assay.config import Settings
from assay.errors import UserError
from assay.factory.loop import Factory, Progress, RoleModels, RunOutcome
from assay.gates.base import Gate
from assay.gates.pytest_gate import PytestGate
from assay.gates.runner import check_gate_tables
from assay.messages import Spec
from assay.plugins import AssayPluginManager
from assay.plugins import gates as plugin_gates
from assay.scenarios.loader import load_dir
from assay.terminal import literal
from assay.testing import TESTING_MODELS_ENV, models_from_env

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = [
    "build_role_models",
    "check_sandbox",
    "execute",
    "new_run_id",
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
    plugins: AssayPluginManager,
) -> RoleModels:
    """The four roles' models from flags, env and config (or the ``assay.testing`` hook).

    Providers other than ``anthropic`` and ``openai`` come from `plugins`, the command's manager.
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

    def build(spec: str) -> Model:
        return build_model(
            spec, env=env, base_url=url, plugins=plugins, timeout_s=settings.models.timeout_s,
            retries=settings.models.retries,
        )  # fmt: skip

    built = {role: build(c.model) for role, c in chosen.items()}
    strong_name = strong or env.get("ASSAY_STRONG_MODEL") or settings.models.strong
    labels = {role: c.model for role, c in chosen.items()}
    if strong_name:
        labels["strong"] = strong_name
    return RoleModels(
        architect=built["architect"], tester=built["tester"], coder=built["coder"],
        reviewer=built["security-reviewer"], labels=labels,
        strong=build(strong_name) if strong_name else None,
    )  # fmt: skip


def select_gates(
    names: list[str], settings: Settings | None, plugins: AssayPluginManager
) -> list[Gate]:
    """The installed gates named in `names` (all when empty); pytest runs in the sandbox.

    The built-in pytest gate is replaced by one built with ``untrusted=True``: generated tests
    always run in a sandbox, whatever ``[tool.assay.gates.pytest] sandbox`` says.
    """
    pm = plugins
    if settings is not None:
        check_gate_tables(settings, plugin_gates(pm))
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
    """Run `factory`, showing its progress on `console`; print the outcome.

    A live view on a terminal; one plain line per step (the CI log) with ``--no-live`` (`live`
    False), when `console` is not a terminal, or under ``CI=true``. Nothing under ``-q``.
    """
    from assay.factory.progress_lines import attach, plain_lines_wanted

    if plain_lines_wanted(no_live=not live, is_terminal=console.is_terminal):
        if not console.quiet:
            attach(factory, console.file)
        outcome = asyncio.run(factory.run())
    else:
        with Live(_view(run_id, factory.progress), console=console, refresh_per_second=8) as view:
            factory.on_progress = lambda p: view.update(_view(run_id, p))
            outcome = asyncio.run(factory.run())
    colour = "green" if outcome.outcome == "converged" else "yellow"
    console.print(
        f"[bold {colour}]{literal(outcome.outcome)}[/] after {outcome.iterations} iteration(s); "
        f"best iteration {outcome.best_iteration} (score {outcome.best_score:.1f}); "
        f"{outcome.tokens:,} tokens, ${outcome.dollars:.4f}"
    )
    console.print(f"workspace: {literal(factory.workspace)}")
    console.print(f"ledger:    {literal(factory.ledger.path)}")
    return outcome


def scenario_validator(
    scenarios: Path | None,
    settings: Settings,
    env: Mapping[str, str],
    info: dict[str, Any],
    plugins: AssayPluginManager,
) -> ScenarioValidator | None:
    """The holdout validator for `scenarios` (None without a folder), serving from the sandbox."""
    if scenarios is None:
        return None
    loaded = load_dir(scenarios)
    loaded.raise_for_errors()
    model_name = info.get("judge_model") or None
    model = judge_model_from_env(
        model_name, env=env, plugins=plugins, models=settings.models,
        base_url=settings.models.base_url,
    )  # fmt: skip
    judge = make_judge(info.get("judge") or None, model, plugins=plugins)
    return ScenarioValidator(
        loaded.scenarios,
        judge=judge,
        threshold=settings.factory.threshold,
        sandbox=settings.sandbox,
        regulated=settings.regulated,
        plugins=plugins,
    )


def new_run_id(spec: Spec) -> str:
    """``<spec name>-<UTC stamp>-<4 hex>``: sortable by time, unique on one machine."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.name}-{stamp}-{secrets.token_hex(2)}"

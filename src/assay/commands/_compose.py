"""The composition root: one `RunDescription` in, one wired `Factory` out.

A run is described by what it needs and nothing it merely happened to find: the spec, the
settings (flags already applied), the configuration file they came from, the holdout scenarios
folder, the run folder, and the models the environment chose (`ModelPlan`: a model string per
role, the coder's escalation model, the base URL, the judge). A description is a pydantic model,
so it round-trips through JSON (the fleet stores it in its queue). API keys are never part of it:
`compose` reads them from the environment it is given, as `build_model` does.

Three callers, one wiring:

- ``assay run`` describes a new run from its flags, config and environment (`describe_run`);
- ``assay resume`` describes the run again from what its ledger recorded in ``run.started``
  (`recorded_run`): the same spec, settings, config file, scenarios folder and judge; only the
  role models are chosen again (flags, environment, the recorded settings), for a resume after
  an outage may switch providers;
- the fleet worker (issue 16) composes the description it takes off the queue.

`compose` builds the plugin manager (once, under the description's ``[tool.assay.plugins]``),
the role models, the holdout validator and its judge, the gates (pytest always sandboxed), checks
that a sandbox backend is here when generated code will need one, and opens the `Factory`.
Generated code is untrusted: the holdout service, its exec steps and the pytest gate run in the
``[tool.assay.sandbox]`` backend (``auto``: docker, else bwrap); with none available the run
stops before it starts, saying what to install. Plugins supply gates, model providers
(``<provider>:<model>``), sandbox backends, judges (``ASSAY_JUDGE``) and role agents.

This module lives under `assay.commands`, beside `assay.commands._holdout`: it imports both
`assay.scenarios` and `assay.factory`, which the holdout contract forbids inside `assay.factory`.
Needs the ``factory`` extra (pydantic-ai); callers import it once they have checked it is there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, model_validator

from assay.agents.judge import JUDGE_ENV, JUDGE_MODEL_ENV, judge_model_from_env, make_judge
from assay.agents.models import (
    ROLES,
    AgentRole,
    build_model,
    resolve_models,
    resolve_preflight_model,
    strong_choice,
)
from assay.commands._holdout import ScenarioValidator
from assay.config import Settings, check_gate_tables
from assay.errors import UserError
from assay.factory.loop import Factory, RoleModels
from assay.fleet.database import Database
from assay.gates.base import Gate
from assay.gates.pytest_gate import PytestGate
from assay.housestyle.model import HouseStyle, load_house_style
from assay.ledger import Ledger, Signer, load_or_create_signer
from assay.ledger.kinds import RUN_STARTED
from assay.messages import Spec
from assay.plugins import AssayPluginManager, make_plugin_manager
from assay.plugins import gates as plugin_gates
from assay.plugins import roles as plugin_roles
from assay.scenarios.loader import load_dir
from assay.testing import TESTING_MODELS_ENV, models_from_env

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = [
    "ModelPlan",
    "RunDescription",
    "build_role_models",
    "check_sandbox",
    "compose",
    "describe_models",
    "describe_run",
    "new_run_id",
    "recorded_run",
    "scenario_validator",
    "select_gates",
]


class ModelPlan(BaseModel):
    """The models a run uses, as chosen from flags, environment and config (never a key)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: dict[AgentRole, str] = {}
    """Role -> ``<provider>:<model>``; empty when `scripted` supplies every role."""
    strong: str | None = None
    """The coder's escalation model after a stall (None: no escalation)."""
    base_url: str | None = None
    """The OpenAI-compatible server for the role models (``--base-url`` or config)."""
    scripted: str | None = None
    """``module:attr`` of scripted models (``ASSAY_TESTING_MODELS``, tests only): every role."""
    judge_model: str = ""
    """The scenario judge's model ("" none: only deterministic checks, or a plugin judge's)."""
    judge: str = ""
    """A plugin judge's name ("" the built-in judge)."""
    preflight: str = ""
    """The spec reviewer's model ("" none: only the deterministic checks, or a scripted one)."""

    @model_validator(mode="after")
    def _every_role(self) -> Self:
        missing = [r for r in ROLES if r not in self.roles]
        if self.scripted is None and missing:
            raise ValueError(f"no model for {', '.join(missing)}")
        return self


class RunDescription(BaseModel):
    """Everything `compose` needs to wire one run, serialisable to JSON and back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_dir: Path
    """The run folder (absolute): its ledger, workspace and caches."""
    spec: Spec
    settings: Settings
    """The run's settings, flags applied (their file is `config_file`: JSON drops `source`)."""
    config_file: Path | None = None
    """The configuration file that governed the run (None: defaults)."""
    config_sha256: str | None = None
    """That file's content digest when the run was described."""
    scenarios: Path | None = None
    """The holdout scenarios folder (absolute), or None: no holdout validation."""
    models: ModelPlan
    house_style: HouseStyle | None = None
    """The team's conventions the roles are given, as loaded when the run was described: the
    document itself, so a resume or a fleet worker gives them the same one whatever the file
    holds by then."""
    house_style_file: Path | None = None
    """Where it was read from (absolute), for the record."""
    ledger_database: str | None = None
    """The PostgreSQL database that holds the run's ledger (a fleet's system database, so any
    worker that takes the run writes to the same one; never with a password); None: the run
    folder's own store (``ledger.sqlite`` for a new run)."""
    preflight: bool = False
    """Check the spec before the architect (`assay.agents.preflight`); a stored description
    from before preflight existed never had it."""

    @property
    def run_id(self) -> str:
        """The run's id: its folder's name."""
        return self.run_dir.name

    def configured(self) -> Settings:
        """`settings` with their file restored as `Settings.source` (gates resolve relative
        executables and check option tables against it)."""
        return self.settings.model_copy(update={"source": self.config_file})

    def run_info(self) -> dict[str, Any]:
        """The keys ``run.started`` records beside the spec and settings, for resume to read."""
        return {
            # Which configuration governed the run, by path and content (issue 12, point 3).
            "config_file": str(self.config_file) if self.config_file else None,
            "config_sha256": self.config_sha256,
            "scenarios_dir": str(self.scenarios) if self.scenarios else None,
            "judge_model": self.models.judge_model,
            "judge": self.models.judge,
            # the document itself goes in a blob beside it (`Factory`), under its digest
            "house_style_file": str(self.house_style_file) if self.house_style_file else None,
            "preflight": self.preflight,
        }


def new_run_id(spec: Spec) -> str:
    """``<spec name>-<UTC stamp>-<4 hex>``: sortable by time, unique on one machine."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{spec.name}-{stamp}-{secrets.token_hex(2)}"


def describe_models(
    settings: Settings,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    per_role: Mapping[str, str | None] | None = None,
    strong: str | None = None,
    base_url: str | None = None,
    judge_model: str = "",
    judge: str = "",
    preflight_model: str | None = None,
) -> ModelPlan:
    """The role models from flags, env and config, or the ``assay.testing`` hook when set.

    Precedence is `resolve_models`'s; the escalation model is ``--strong-model``, then
    ``ASSAY_STRONG_MODEL``, then ``[tool.assay.models] strong``; the preflight reviewer's is
    `resolve_preflight_model`'s (``--preflight-model`` first, the architect's last). A
    `UserError` names every way to configure a role that has no model.
    """
    scripted = env.get(TESTING_MODELS_ENV) or None
    strong_found = strong_choice(settings.models, env=env, strong=strong)
    strong_name = strong_found.model if strong_found else None
    url = base_url or settings.models.base_url
    if scripted is not None:
        return ModelPlan(
            scripted=scripted, strong=strong_name, base_url=url, judge_model=judge_model,
            judge=judge,
        )  # fmt: skip
    chosen = resolve_models(settings.models, env=env, model=model, per_role=per_role)
    reviewer = resolve_preflight_model(
        settings.models, env=env, model=model, flag=preflight_model,
        architect=chosen["architect"].model,
    )  # fmt: skip
    return ModelPlan(
        roles={role: c.model for role, c in chosen.items()}, strong=strong_name, base_url=url,
        judge_model=judge_model, judge=judge, preflight=reviewer.model if reviewer else "",
    )  # fmt: skip


def describe_run(
    spec: Spec,
    settings: Settings,
    *,
    run_dir: Path,
    scenarios: Path | None,
    env: Mapping[str, str],
    model: str | None = None,
    per_role: Mapping[str, str | None] | None = None,
    strong: str | None = None,
    base_url: str | None = None,
    judge_model: str | None = None,
    house_style: Path | None = None,
    ledger_database: Database | None = None,
    preflight_model: str | None = None,
    skip_preflight: bool = False,
) -> RunDescription:
    """A new run of `spec` in `run_dir` under `settings` (flags already applied), as ``assay
    run`` describes it; the judge is ``--judge-model``, then ``ASSAY_JUDGE_MODEL``, and a plugin
    judge is named by ``ASSAY_JUDGE``. The house style is `house_style` (``--house-style``),
    else ``[tool.assay.factory] house_style``; a bad one is a `UserError` before anything runs.
    `ledger_database`: a PostgreSQL database for the ledger (``assay fleet submit``; SQLite, or
    None: ``ledger.sqlite`` in the run folder). The spec is preflighted first unless
    `skip_preflight` or ``[tool.assay.preflight] enabled = false``."""
    if ledger_database is not None and ledger_database.has_password:
        raise UserError(
            f"{ledger_database}: a run's description never holds a password: keep it in "
            "PGPASSWORD or ~/.pgpass"
        )
    postgres = ledger_database is not None and ledger_database.kind == "postgresql"
    ledger_url = ledger_database.url if ledger_database is not None and postgres else None
    source = settings.source.resolve() if settings.source else None
    style_file = house_style or settings.factory.house_style_at(
        source.parent if source else Path.cwd()
    )
    style = load_house_style(style_file) if style_file is not None else None
    models = describe_models(
        settings, env=env, model=model, per_role=per_role, strong=strong, base_url=base_url,
        judge_model=judge_model or env.get(JUDGE_MODEL_ENV) or "", judge=env.get(JUDGE_ENV) or "",
        preflight_model=preflight_model,
    )  # fmt: skip
    return RunDescription(
        run_dir=run_dir.resolve(),
        spec=spec,
        settings=settings.model_copy(update={"source": None}),  # as JSON keeps them: the file
        config_file=source,  # is here, and `configured` puts it back
        config_sha256=hashlib.sha256(source.read_bytes()).hexdigest() if source else None,
        scenarios=scenarios.resolve() if scenarios is not None else None,
        models=models,
        house_style=style,
        house_style_file=style_file.resolve() if style_file is not None else None,
        ledger_database=ledger_url,
        preflight=settings.preflight.enabled and not skip_preflight,
    )


def _recorded_house_style(ledger: Ledger, info: Mapping[str, Any]) -> HouseStyle | None:
    """The house style ``run.started`` recorded (its blob), or None when the run had none."""
    blob = info.get("house_style_blob")
    return HouseStyle.model_validate_json(ledger.get_blob(blob)) if blob else None


def recorded_run(
    run_dir: Path,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    strong: str | None = None,
    base_url: str | None = None,
) -> RunDescription:
    """The run in `run_dir` described again from its ledger's ``run.started`` (``assay
    resume``): its spec, settings, config file, scenarios folder, judge and house style as
    recorded; the role models chosen again from `model`, `strong`, `base_url`, `env` and the
    recorded settings. The ledger stays where it is: the database the folder's ``ledger.json``
    names, if any."""
    with Ledger.open(run_dir, create=False, check=True) as ledger:
        database = ledger.database
        started = ledger.completed("run.started")
        if started is None or started.kind != RUN_STARTED:
            raise UserError(f"{run_dir}: the run never started; start it again with assay run")
        info = started.payload
        spec = Spec.model_validate_json(ledger.get_blob(info["spec_blob"]))
        style = _recorded_house_style(ledger, info)
    settings = Settings.model_validate(info["settings"])
    scenarios = Path(info["scenarios_dir"]) if info.get("scenarios_dir") else None
    if scenarios is not None and not scenarios.exists():
        raise UserError(f"the run's scenarios folder is gone: {scenarios}")
    config_file = info.get("config_file")
    models = describe_models(
        settings, env=env, model=model, strong=strong, base_url=base_url,
        judge_model=info.get("judge_model") or "", judge=info.get("judge") or "",
    )  # fmt: skip
    return RunDescription(
        run_dir=run_dir.resolve(),
        spec=spec,
        settings=settings,
        config_file=Path(config_file) if config_file else None,
        config_sha256=info.get("config_sha256"),
        scenarios=scenarios,
        models=models,
        house_style=style,
        house_style_file=Path(info["house_style_file"]) if info.get("house_style_file") else None,
        ledger_database=database.url if database is not None else None,
        preflight=bool(info.get("preflight", False)),  # as recorded (older runs: none)
    )


def compose(
    description: RunDescription,
    *,
    env: Mapping[str, str],
    signer: Signer | None = None,
    judge_wrapper: Callable[[Model, str], Model] | None = None,
) -> Factory:
    """The `Factory` for `description`: every part wired here, nowhere else.

    `env` supplies the providers' keys (and `OPENAI_BASE_URL`); `signer` defaults to the user's
    factory key; `judge_wrapper(model, label)` wraps the judge's model (the fleet paces it under
    its provider's rate limit, as `Factory.recording` does the roles'). Raises a `UserError`
    for a model, gate, judge or scenario that cannot be built, and `SandboxUnavailable` when
    generated code will need a sandbox and none is here.
    """
    settings = description.configured()
    pm = make_plugin_manager(settings=settings)
    models = build_role_models(
        description.models, settings, env=env, plugins=pm, preflight=description.preflight
    )
    validator = scenario_validator(
        description, settings, env=env, plugins=pm, judge_wrapper=judge_wrapper
    )
    gates = select_gates(settings.factory.gates, settings, pm)
    check_sandbox(settings, gates, validator)
    return Factory(
        description.run_dir, spec=description.spec, settings=settings, models=models,
        gates=gates, validator=validator, signer=signer or load_or_create_signer(),
        roles=plugin_roles(pm), run_info=description.run_info(),
        house_style=description.house_style,
        ledger_database=description.ledger_database, preflight=description.preflight,
    )  # fmt: skip


def build_role_models(
    plan: ModelPlan,
    settings: Settings,
    *,
    env: Mapping[str, str],
    plugins: AssayPluginManager,
    preflight: bool = True,
) -> RoleModels:
    """The four roles' models (and the escalation model) that `plan` names, and the preflight
    reviewer's when `preflight` (a run that skips it needs no key for it).

    Providers other than ``anthropic`` and ``openai`` come from `plugins`, the command's manager.
    """
    if plan.scripted is not None:
        scripted = models_from_env({TESTING_MODELS_ENV: plan.scripted})
        assert scripted is not None
        missing = [r for r in ROLES if r not in scripted]
        if missing:
            raise UserError(f"{TESTING_MODELS_ENV}: no model for {', '.join(missing)}")
        # a script without a preflight model gets the deterministic checks only
        reviewer = scripted.get("preflight") if preflight else None
        return RoleModels(
            architect=scripted["architect"], tester=scripted["tester"], coder=scripted["coder"],
            reviewer=scripted["security-reviewer"],
            labels={r: f"scripted:{r}" for r in ROLES} | {"strong": "scripted:strong"}
            | ({"preflight": "scripted:preflight"} if reviewer else {}),
            strong=scripted.get("strong"),
            preflight=reviewer,
        )  # fmt: skip

    def build(spec: str) -> Model:
        return build_model(
            spec, env=env, base_url=plan.base_url, plugins=plugins,
            timeout_s=settings.models.timeout_s, retries=settings.models.retries,
        )  # fmt: skip

    built = {role: build(name) for role, name in plan.roles.items()}
    labels: dict[str, str] = dict(plan.roles.items())
    if plan.strong:
        labels["strong"] = plan.strong
    named = plan.preflight if preflight else ""
    if named:
        labels["preflight"] = named
    return RoleModels(
        architect=built["architect"], tester=built["tester"], coder=built["coder"],
        reviewer=built["security-reviewer"], labels=labels,
        strong=build(plan.strong) if plan.strong else None,
        preflight=build(named) if named else None,
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


def scenario_validator(
    description: RunDescription,
    settings: Settings,
    *,
    env: Mapping[str, str],
    plugins: AssayPluginManager,
    judge_wrapper: Callable[[Model, str], Model] | None = None,
) -> ScenarioValidator | None:
    """The holdout validator for the description's scenarios (None without a folder), serving
    from the sandbox, judged by the description's judge (its model on the config's base URL)."""
    if description.scenarios is None:
        return None
    loaded = load_dir(description.scenarios)
    loaded.raise_for_errors()
    plan = description.models
    model = None
    if plan.judge_model:  # the recorded judge, never one the environment adds on a resume
        model = judge_model_from_env(
            plan.judge_model, env=env, plugins=plugins, models=settings.models,
            base_url=settings.models.base_url,
        )  # fmt: skip
        if model is not None and judge_wrapper is not None:
            model = judge_wrapper(model, plan.judge_model)
    judge = make_judge(
        plan.judge or None, model, plugins=plugins,
        agree_within=settings.scenarios.judge_agree_within, pass_score=settings.factory.threshold,
    )  # fmt: skip
    return ScenarioValidator(
        loaded.scenarios,
        judge=judge,
        threshold=settings.factory.threshold,
        judge_concurrency=settings.scenarios.judge_concurrency,
        sandbox=settings.sandbox,
        regulated=settings.regulated,
        plugins=plugins,
    )

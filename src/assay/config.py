"""Settings: ``[tool.assay]`` in pyproject.toml or ``assay.toml``, validated strictly.

Every section is a pydantic model that forbids unknown keys, so a typo is an error that names the
key and the file instead of a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from assay.errors import ConfigError
from assay.fleet.database import Database
from assay.vocabulary import Finding, SeverityName

__all__ = [
    "ApprovalConfig",
    "FactoryConfig",
    "FleetConfig",
    "GatePolicy",
    "ModelPrice",
    "ModelsConfig",
    "PluginsConfig",
    "PreflightConfig",
    "ProviderLimit",
    "SandboxConfig",
    "ScenariosConfig",
    "Settings",
    "Waiver",
    "apply_waivers",
    "check_gate_tables",
    "find_config",
    "find_first_config",
    "load_settings",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GatePolicy(BaseModel):
    """Policy for one gate; keys beyond these are the gate's own options."""

    model_config = ConfigDict(extra="allow")

    enabled: bool = True
    required: bool | None = None
    """None means the gate's own default (most gates are required)."""
    fail_on: SeverityName | None = None
    """Lowest severity that fails the gate; None means the gate's default."""
    timeout: float = Field(default=900.0, gt=0)
    """Seconds before the tool is killed and the gate reports an error."""

    @property
    def options(self) -> dict[str, Any]:
        """The gate-specific keys."""
        return dict(self.model_extra or {})

    def validated_options(
        self, gate: str, model: type[BaseModel] | None, source: Path | None
    ) -> dict[str, Any]:
        """The gate-specific keys validated by the gate's `model` (its ``options_model``; None:
        the gate takes none). A `ConfigError` names the first wrong key in `source`."""
        raw = self.options
        on_top = "tool.assay." if source is None or source.name == "pyproject.toml" else ""
        key_prefix = f"{on_top}gates.{gate}"
        if model is None:
            if raw:
                unknown = sorted(raw)[0]
                raise ConfigError("unknown key", file=source, key=f"{key_prefix}.{unknown}")
            return {}
        try:
            return model.model_validate(raw).model_dump()
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise ConfigError(err["msg"], file=source, key=f"{key_prefix}.{loc}") from None


class _Named(Protocol):
    @property
    def name(self) -> str: ...


def check_gate_tables(settings: Settings, gates: Iterable[_Named]) -> None:
    """Refuse a ``[gates.X]`` table that names no installed gate: a misspelt gate's policy
    would otherwise be ignored without a word."""
    known = {g.name for g in gates}
    unknown = sorted(set(settings.gates) - known)
    if unknown:
        prefix = (
            "tool.assay." if settings.source and settings.source.name == "pyproject.toml" else ""
        )
        raise ConfigError(
            f"no installed gate is called {', '.join(map(repr, unknown))}; installed: "
            f"{', '.join(sorted(known))}",
            file=settings.source,
            key=f"{prefix}gates.{unknown[0]}",
        )


class Waiver(_Strict):
    """An accepted finding: who accepted it, why, and until when."""

    fingerprint: str | None = None
    rule: str | None = None
    path: str | None = None
    """A glob relative to the project root, e.g. ``tests/*``."""
    gate: str | None = None
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: dt.date

    @model_validator(mode="after")
    def _target(self) -> Waiver:
        if not self.fingerprint and not self.rule:
            raise ValueError("a waiver needs a 'fingerprint', or a 'rule' (optionally with 'path')")
        return self

    def expired(self, today: dt.date | None = None) -> bool:
        """True once the expiry date has passed."""
        return (today or dt.date.today()) > self.expires

    def matches(self, gate: str, rule_id: str, file: str, fingerprint: str) -> bool:
        """Whether this waiver covers the given finding."""
        if self.gate and self.gate != gate:
            return False
        if self.fingerprint:
            return self.fingerprint == fingerprint
        if self.rule != rule_id:
            return False
        return self.path is None or fnmatch.fnmatch(file, self.path)


def apply_waivers(
    findings: Iterable[Finding], waivers: Iterable[Waiver], today: dt.date
) -> list[Finding]:
    """`findings`, each covered by a waiver not expired by `today` marked ``waived_by`` the
    first such waiver's reason."""
    live = [w for w in waivers if not w.expired(today)]
    out = []
    for f in findings:
        waiver = next(
            (w for w in live if w.matches(f.gate, f.rule_id, f.file, f.fingerprint)), None
        )
        out.append(f.model_copy(update={"waived_by": waiver.reason}) if waiver else f)
    return out


class PluginsConfig(_Strict):
    """Which plugins must be present, which are kept out, which load without autoload.

    Names are entry-point names (``licence-policy``), distribution names (``assay-licence-policy``)
    or, for ``load``, importable module paths. See docs/plugins.md.
    """

    require: list[str] = Field(default_factory=list)
    """The run fails unless each of these is installed, not blocked, and works."""
    block: list[str] = Field(default_factory=list)
    """Never loaded, even when installed."""
    load: list[str] = Field(default_factory=list)
    """Loaded even with ASSAY_DISABLE_PLUGIN_AUTOLOAD=1; a module path needs no installing."""


class ModelPrice(_Strict):
    """What a model costs, in US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_read: float | None = Field(default=None, ge=0)
    """Input served from the provider's prompt cache (None: Anthropic's 0.1x of `input`, else
    `input`, i.e. no discount assumed)."""
    cache_write: float | None = Field(default=None, ge=0)
    """Input written to the prompt cache (None: Anthropic's 1.25x of `input`, else `input`)."""


class ModelsConfig(_Strict):
    """Which model plays each role (``[tool.assay.models]``); env vars and flags override these.

    A model is a pydantic-ai model string: ``anthropic:claude-sonnet-4-5``, ``openai:gpt-4.1``, or
    ``openai:<name>`` with `base_url` for an OpenAI-compatible server (Ollama, vLLM, llama.cpp).
    """

    default: str | None = None
    """Used by every role that has no model of its own."""
    architect: str | None = None
    tester: str | None = None
    coder: str | None = None
    security_reviewer: str | None = None
    strong: str | None = None
    """The coder's escalation model after a stall (none: no escalation)."""
    preflight: str | None = None
    """The spec's clarity reviewer (none: the architect's model)."""
    base_url: str | None = None
    """Base URL of an OpenAI-compatible server for ``openai:`` models."""
    timeout_s: float = Field(default=300.0, gt=0)
    """The deadline of one model request, in seconds, every retry included (pydantic-ai's
    ``request_timeout``); past it the role or judge call fails naming the timeout."""
    retries: int = Field(default=2, ge=0)
    """How many times the provider's client retries a failed request (``max_retries``)."""
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    """Prices for models missing from assay's table, keyed by model string."""


class FactoryConfig(_Strict):
    """The convergence loop of ``assay run`` (``[tool.assay.factory]``)."""

    max_iterations: int = Field(default=8, ge=1)
    stall_iterations: int = Field(default=3, ge=1)
    """Iterations without improvement before escalating, then stopping."""
    threshold: float = Field(default=95.0, ge=0, le=100)
    """Holdout satisfaction needed to converge."""
    max_tokens: int | None = Field(default=2_000_000, ge=1)
    """Token cap for the whole run (input + output); None: no cap."""
    max_dollars: float | None = Field(default=25.0, gt=0)
    """Dollar cap for the whole run; None: no cap."""
    gates: list[str] = Field(default_factory=list)
    """Gates run each iteration; empty means every installed gate."""
    fail_fast: bool = False
    leak: Literal["none", "titles", "reasons"] = "titles"
    """How much of a failed holdout scenario the coder is told."""
    patch_mode: bool = True
    """Send the coder only the files the feedback involves, not the whole workspace."""
    feedback_max_items: int = Field(default=25, ge=1)
    feedback_max_chars: int = Field(default=8000, ge=200)
    require_review: bool = True
    """The security reviewer must approve before a run converges."""
    overlap: bool = True
    """Run the held-out scenarios (in their own checkout of the iteration's commit) while the
    gates and the security review run, instead of after them."""
    review_feedback: Literal["blocking", "all"] = "blocking"
    """Which security-review findings the coder is sent: ``blocking`` (a rejecting review's) or
    ``all`` (an approving review's too, while iterations remain)."""
    stratified: bool = False
    """Converge the held-out scenarios tier by tier (``tier: 1``, 2, 3; none given: tier 1):
    while tier N is converged only tiers <= N are run, and the run converges only once the
    highest tier is in (``assay run --stratified``)."""
    block_on_regression: bool = False
    """Refuse convergence while a held-out scenario that passed in an earlier iteration fails
    (``assay run --block-on-regression``); the coder is told which, at the leak level."""
    house_style: str | None = None
    """A house-style JSON written by ``assay extract`` (relative to this config file's folder):
    the team's conventions the architect, tester and coder are given (``--house-style``
    overrides it). None: no house style."""

    def house_style_at(self, base: Path) -> Path | None:
        """`house_style` with a relative path resolved against `base` (the config file's
        folder); None when unset."""
        if self.house_style is None:
            return None
        path = Path(self.house_style)
        return path if path.is_absolute() else base / path


class PreflightConfig(_Strict):
    """The spec check `assay run` makes before the architect (``[tool.assay.preflight]``)."""

    enabled: bool = True
    """Run the preflight first (``assay run --skip-preflight`` skips it for one run)."""
    threshold: float = Field(default=0.8, ge=0, le=1)
    """The overall clarity score (0..1) a spec needs; below it the run stops before any code."""


class ScenariosConfig(_Strict):
    """How held-out scenarios are judged (``[tool.assay.scenarios]``), by `assay run` and
    `assay validate`."""

    judge_concurrency: int = Field(default=4, ge=1)
    """Steps judged at once over a whole validation, once every scenario's steps have run (each
    step asks up to two samples at once)."""
    judge_agree_within: float | None = Field(default=10.0, ge=0, le=100)
    """Early stop: when a step's first two samples score within this many points (of 0-100) and
    fall on the same side of the threshold, the rest of the k samples are not asked. None: always
    ask all k."""


class ApprovalConfig(_Strict):
    """Human sign-off before a run counts as releasable (``[tool.assay.approval]``)."""

    required: bool = False
    """A run is releasable only once approved by someone who did not generate the change."""
    min_approvals: int = Field(default=1, ge=1)
    """How many distinct approvers are needed when approval is required."""
    approvers: dict[str, list[str]] = Field(default_factory=dict)
    """Pinned approver keys, name -> key ids: when set, an approval counts only when signed by a
    key pinned for its name (keep this file under review, e.g. CODEOWNERS)."""


class SandboxConfig(_Strict):
    """Where generated code runs (``[tool.assay.sandbox]``); see docs/sandbox.md."""

    backend: str = Field(default="auto", min_length=1)
    """``auto`` picks docker when its API answers and `image` exists, else bwrap; ``local``
    (no isolation) only when named, and never when `regulated`; or a plugin's backend name."""
    image: str = "localhost/assay-python:bookworm"
    """The docker backend's image (built by ``assay sandbox build-image``)."""
    docker_host: str | None = None
    """Docker API endpoint; default $DOCKER_HOST, then Podman's, then Docker's socket."""
    timeout_s: float = Field(default=300.0, gt=0)
    memory_mb: int = Field(default=512, ge=16)
    pids: int = Field(default=128, ge=8)
    cpus: float = Field(default=1.0, gt=0)
    output_bytes: int = Field(default=1_000_000, ge=1024)
    env_allow: list[str] = Field(default_factory=list)
    """Host variables passed in when set; secret-looking names are never passed."""
    ro_paths: list[str] = Field(default_factory=list)
    """Extra host paths mounted read-only at the same place (bwrap), e.g. a virtualenv."""


DEFAULT_ALLOW = [
    # HTTP services: FastAPI on uvicorn, or Flask; pydantic models; httpx (FastAPI's TestClient).
    "fastapi", "starlette", "uvicorn", "pydantic", "pydantic-core", "pydantic-settings",
    "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "click",
    "typing-extensions", "typing-inspection", "annotated-types", "annotated-doc",
    "python-dotenv", "python-multipart", "opentelemetry-api",
    "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "blinker",
]  # fmt: skip
DEFAULT_LICENSES = [
    "MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "ISC", "PSF-2.0", "Python-2.0",
    "MPL-2.0", "0BSD", "Unlicense",
]  # fmt: skip


class DependencyConfig(_Strict):
    """Which third-party distributions generated code may use (``[tool.assay.dependencies]``).

    Every name the architect asks for is checked against this policy, resolved into a lock with
    hashes, audited and licence-checked on the host before any code runs (``assay.deps``).
    """

    allow: list[str] = Field(default_factory=lambda: list(DEFAULT_ALLOW))
    """Distributions that may be used, each with an optional version range (``pydantic>=2``).
    Under ``regulated = true`` every resolved component, transitive ones too, must be here;
    otherwise a direct dependency outside it is accepted and recorded as such."""
    deny: list[str] = Field(default_factory=list)
    """Distributions never accepted, directly or transitively."""
    index: str | None = None
    """The package index or mirror to resolve and download from (default: pip's configured
    index, else PyPI)."""
    licenses: list[str] = Field(default_factory=lambda: list(DEFAULT_LICENSES))
    """SPDX licence ids a component may carry; one outside this list goes back to the architect."""

    @field_validator("allow", "deny")
    @classmethod
    def _requirements(cls, value: list[str]) -> list[str]:
        # Imported here: packaging's parser costs ~20 ms that `assay --help` need not pay.
        from packaging.requirements import InvalidRequirement, Requirement

        for item in value:
            try:
                Requirement(item)
            except InvalidRequirement as exc:
                raise ValueError(f"{item!r} is not a requirement: {exc}") from None
        return value


class ProviderLimit(_Strict):
    """A model provider's rate limit, shared by every run of the fleet
    (``[tool.assay.fleet.providers.<provider>]``): at most `requests` requests in any `period_s`
    seconds."""

    requests: int = Field(ge=1)
    period_s: float = Field(gt=0)


class FleetConfig(_Strict):
    """Many runs on many machines (``[tool.assay.fleet]``); see docs/fleet.md."""

    worker_concurrency: int = Field(default=1, ge=1)
    """How many runs one ``assay worker`` executes at once (sized by cores and memory: a run holds
    a sandbox and its gate processes)."""
    providers: dict[str, ProviderLimit] = Field(default_factory=dict)
    """Rate limits by provider (the part of a model string before ``:``, e.g. ``anthropic``);
    a provider without an entry is not limited by the fleet."""
    system_schema: str = Field(default="dbos", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    """The schema of DBOS's tables in a PostgreSQL system database."""
    admit_window_s: float = Field(default=1.0, gt=0)
    """How late after its admission a request may still be recorded and sent: the fleet's queue
    admits at most ``requests`` per ``period_s + admit_window_s``, so the limit holds over every
    window of ``period_s`` of the requests as recorded. A slot seen later than half of it is
    given up for a new one (the other half is for recording the request); a request recorded
    later than all of it is not sent, and fails its run."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Dollars all the fleet's runs together may spend (None: no fleet-wide cap; each run's own
    ``max_dollars`` still holds). At the cap every run's next request is refused and the run
    stops with outcome ``budget``; requests in flight finish (docs/fleet.md)."""

    database: str | None = None
    """Where the fleet keeps its state: ``postgresql://HOST[:PORT]/DB`` for a fleet of machines
    (the runs' ledgers, and DBOS's system database), or ``sqlite:///PATH`` / a bare path for one
    machine (DBOS's system database; ledgers stay in their run folders). None: embedded SQLite.
    A relative SQLite path is relative to this config file's folder. Never a password here:
    libpq reads ``PGPASSWORD`` or ``~/.pgpass``."""

    @field_validator("database")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None:
            Database.parse(value, allow_password=False)  # its ValueError names the problem
        return value

    def database_at(self, base: Path) -> Database | None:
        """`database` parsed, a relative SQLite path resolved against `base` (the config
        file's folder); None when unset."""
        if self.database is None:
            return None
        db = Database.parse(self.database)
        if db.path is not None and not db.path.is_absolute():
            return Database.parse(f"sqlite:///{base / db.path}")
        return db


class Settings(_Strict):
    """All of assay's settings for one project."""

    exclude: list[str] = Field(default_factory=list)
    """Globs (relative to the project root) that no gate looks at."""
    fail_fast: bool = False
    """Stop starting gates once a required gate fails."""
    jobs: int = Field(default=0, ge=0)
    """How many tool processes the gates run at once; 0 means the CPU count."""
    batch: bool = True
    """Split per-file gates' files into batches run side by side, longest job first; false: the
    older schedule, one whole gate per job, cheapest first (fail-fast always uses it)."""
    regulated: bool = False
    """A regulated policy refuses unsafe options such as the unisolated sandbox."""
    fail_on: SeverityName = "low"
    """Default lowest severity that fails a gate."""
    gates: dict[str, GatePolicy] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    factory: FactoryConfig = Field(default_factory=FactoryConfig)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    scenarios: ScenariosConfig = Field(default_factory=ScenariosConfig)
    sandbox: SandboxConfig = Field(default_factory=SandboxConfig)
    dependencies: DependencyConfig = Field(default_factory=DependencyConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)

    source: Path | None = Field(default=None, exclude=True)
    """The file these settings came from (None: defaults)."""

    def gate_policy(self, name: str) -> GatePolicy:
        """The policy for `name`, or the defaults."""
        return self.gates.get(name) or GatePolicy()


def find_config(start: Path) -> Path | None:
    """The project's assay.toml, or its pyproject.toml when that has a [tool.assay] table.

    The search climbs from `start` only to the project root: the nearest folder holding a
    ``pyproject.toml``, an ``assay.toml`` or ``.git``. It never reads a config from above the
    project (a ``../assay.toml`` could name executables and waivers for it)."""
    here = start if start.is_dir() else start.parent
    for folder in (here, *here.parents):
        candidate = folder / "assay.toml"
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            tool = _read_toml(pyproject).get("tool")
            return pyproject if isinstance(tool, dict) and "assay" in tool else None
        if (folder / ".git").exists():
            break
    return None


def find_first_config(*starts: Path) -> Path | None:
    """The config `find_config` finds from the first of `starts` that has one: `assay run` looks
    from the current folder (the project the user stands in), then from the spec's folder. Each
    search keeps `find_config`'s stop rules."""
    for start in starts:
        found = find_config(start)
        if found is not None:
            return found
    return None


def load_settings(path: Path | None) -> Settings:
    """Load and validate settings from assay.toml or pyproject.toml; None gives defaults."""
    if path is None:
        return Settings()
    data = _read_toml(path)
    prefix = ""
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("assay", {})
        prefix = "tool.assay."
    elif not data:
        # It would silently stand in for pyproject.toml's [tool.assay] with all defaults.
        raise ConfigError(
            "holds no settings; delete it (pyproject.toml's [tool.assay] is used then) or put "
            "the policy in it",
            file=path,
        )
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = prefix + ".".join(str(p) for p in err["loc"])
        raise ConfigError(err["msg"], file=path, key=key) from None
    settings.source = path
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=path) from None

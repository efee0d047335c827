"""Which model plays each role, and building a pydantic-ai model from a model string.

Precedence for a role (and for ``preflight``, the spec's clarity reviewer, which falls back to
the architect's model), first found wins: ``--<role>-model`` flag, ``--model`` flag,
``ASSAY_<ROLE>_MODEL``, ``ASSAY_MODEL``, ``[tool.assay.models] <role>``, ``[tool.assay.models]
default``. Model strings are ``anthropic:<name>`` or ``openai:<name>``; an ``openai:`` model talks
to an OpenAI-compatible server (Ollama, vLLM, llama.cpp) when a base URL is set (``--base-url``,
``OPENAI_BASE_URL`` or ``[tool.assay.models] base_url``). Any other ``<provider>:<name>`` is
looked up among the model providers plugins offer (hook ``assay_model_providers``): the factory
(an `assay.plugins.ModelProvider`) is called with ``<name>`` and returns a pydantic-ai ``Model``;
one that raises or returns anything else is a `PluginFailure` naming the plugin. The plugin
manager is the command's own (built once, under the project's ``[tool.assay.plugins]``) and
always passed in.

Every built-in provider gets a deadline per model request, all retries included
(``[tool.assay.models] timeout_s``, pydantic-ai's ``request_timeout``), and a bounded number of
client retries (``retries``, ``max_retries``): a provider that never answers fails the call
with pydantic-ai's `ModelRequestTimeout` naming the timeout, never hangs the run.

Choosing models needs nothing optional; building one needs pydantic-ai (the ``factory`` extra) and
raises `assay._extras.MissingExtra` without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay._extras import FACTORY, require
from assay.config import ModelsConfig
from assay.errors import UserError
from assay.vocabulary import AGENT_ROLES, AgentRole

if TYPE_CHECKING:
    from pydantic_ai.models import Model
    from pydantic_ai.settings import ModelSettings

    from assay.plugins import AssayPluginManager

__all__ = [
    "ROLES",
    "STRONG_MODEL_ENV",
    "AgentRole",
    "ModelChoice",
    "build_model",
    "resolve_models",
    "resolve_preflight_model",
    "role_choice",
    "strong_choice",
]

ROLES = AGENT_ROLES
"""The roles a model is chosen for, in order (`assay.vocabulary.AGENT_ROLES`)."""

_DEFAULTS = ModelsConfig()

STRONG_MODEL_ENV = "ASSAY_STRONG_MODEL"
"""Names the coder's escalation model (after ``--strong-model``, before the config's)."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The model string chosen for a role and where the choice came from."""

    role: str
    model: str
    source: str


def _env_name(role: str) -> str:
    return f"ASSAY_{role.upper().replace('-', '_')}_MODEL"


def role_choice(
    config: ModelsConfig,
    role: str,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    per_role: Mapping[str, str | None] | None = None,
) -> ModelChoice | None:
    """The model `role` gets by `resolve_models`'s precedence, or None when nothing names one."""
    key = role.replace("-", "_")
    candidates = (
        ((per_role or {}).get(role), f"--{role}-model"),
        (model, "--model"),
        (env.get(_env_name(role)), _env_name(role)),
        (env.get("ASSAY_MODEL"), "ASSAY_MODEL"),
        (getattr(config, key, None), f"[tool.assay.models] {key}"),
        (config.default, "[tool.assay.models] default"),
    )
    found = next(((m, src) for m, src in candidates if m), None)
    return None if found is None else ModelChoice(role, found[0], found[1])


def strong_choice(
    config: ModelsConfig, *, env: Mapping[str, str], strong: str | None = None
) -> ModelChoice | None:
    """The coder's escalation model: ``--strong-model``, ``ASSAY_STRONG_MODEL``, then
    ``[tool.assay.models] strong``; None: no escalation."""
    candidates = (
        (strong, "--strong-model"),
        (env.get(STRONG_MODEL_ENV), STRONG_MODEL_ENV),
        (config.strong, "[tool.assay.models] strong"),
    )
    found = next(((m, src) for m, src in candidates if m), None)
    return None if found is None else ModelChoice("strong", found[0], found[1])


def resolve_models(
    config: ModelsConfig,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    per_role: Mapping[str, str | None] | None = None,
) -> dict[AgentRole, ModelChoice]:
    """Pick a model for every role, or raise a `UserError` naming every way to configure one."""
    chosen: dict[AgentRole, ModelChoice] = {}
    missing = []
    for role in ROLES:
        found = role_choice(config, role, env=env, model=model, per_role=per_role)
        if found is None:
            missing.append(role)
            continue
        chosen[role] = found
    if missing:
        raise UserError(
            f"no model configured for {', '.join(missing)}. Set ASSAY_MODEL (e.g. "
            "ASSAY_MODEL=anthropic:claude-sonnet-4-5 with ANTHROPIC_API_KEY, or openai:gpt-4.1 "
            "with OPENAI_API_KEY, or openai:<name> with OPENAI_BASE_URL for Ollama/vLLM/llama.cpp),"
            " a per-role ASSAY_<ROLE>_MODEL, the --model / --<role>-model flags, or "
            "the tool.assay.models table of your config. assay never fakes model output."
        )
    return chosen


def resolve_preflight_model(
    config: ModelsConfig,
    *,
    env: Mapping[str, str],
    model: str | None = None,
    flag: str | None = None,
    architect: str | None = None,
) -> ModelChoice | None:
    """The spec reviewer's model (``preflight``) by the same precedence; without one of its
    own, the architect's (`architect`, also a reader of the whole spec); else None."""
    found = role_choice(config, "preflight", env=env, model=model, per_role={"preflight": flag})
    if found is None and architect:
        return ModelChoice("preflight", architect, "the architect's model")
    return found


def build_model(
    spec: str,
    *,
    env: Mapping[str, str],
    plugins: AssayPluginManager,
    base_url: str | None = None,
    timeout_s: float = _DEFAULTS.timeout_s,
    retries: int = _DEFAULTS.retries,
) -> Model:
    """A pydantic-ai model for `spec`; missing keys raise a `UserError` naming the variable.

    An unknown provider prefix is looked up in `plugins`, the command's plugin manager.
    `timeout_s` bounds one request (every retry included), `retries` the client's retries.
    """
    provider, sep, name = spec.partition(":")
    if not sep or not name:
        raise UserError(f"model {spec!r} must look like 'anthropic:<name>' or 'openai:<name>'")
    needed_for = f"the model {spec!r}"
    if provider == "anthropic":
        require("pydantic_ai.models.anthropic", FACTORY, needed_for)
        from pydantic_ai.models.anthropic import AnthropicModel
        from pydantic_ai.providers.anthropic import AnthropicProvider

        key = env.get("ANTHROPIC_API_KEY")
        if not key:
            raise UserError(f"model {spec!r} needs ANTHROPIC_API_KEY in the environment")
        return AnthropicModel(
            name, provider=AnthropicProvider(api_key=key), settings=_limits(timeout_s, retries)
        )
    if provider == "openai":
        require("pydantic_ai.models.openai", FACTORY, needed_for)
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        url = base_url or env.get("OPENAI_BASE_URL")
        key = env.get("OPENAI_API_KEY")
        if not key and not url:
            raise UserError(
                f"model {spec!r} needs OPENAI_API_KEY, or OPENAI_BASE_URL / --base-url for an "
                "OpenAI-compatible server"
            )
        return OpenAIChatModel(
            name,
            provider=OpenAIProvider(base_url=url, api_key=key or "not-needed"),
            settings=_limits(timeout_s, retries),
        )
    return _plugin_model(provider, name, spec, plugins)


def _limits(timeout_s: float, retries: int) -> ModelSettings:
    """The request deadline and client retries every built-in provider's model carries."""
    from pydantic_ai.settings import ModelSettings

    return ModelSettings(request_timeout=timeout_s, max_retries=retries)


def _plugin_model(provider: str, name: str, spec: str, plugins: AssayPluginManager) -> Model:
    from assay.plugins import model_providers

    require("pydantic_ai", FACTORY, f"the model {spec!r}")
    from pydantic_ai.models import Model

    offered = model_providers(plugins)
    factory = offered.get(provider)
    if factory is None:
        extra = "".join(f", {p}:" for p in sorted(offered))
        raise UserError(
            f"unknown model provider {provider!r} in {spec!r}; use anthropic:, openai:{extra}"
            " (or install a plugin offering it)"
        )
    model = factory(name)  # guarded: what it raises is a PluginFailure naming the plugin
    if not isinstance(model, Model):
        raise factory.wrong(model, "a pydantic_ai Model")
    return model

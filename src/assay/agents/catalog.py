"""What models the configured providers offer, what the project configures, and their prices.

A provider is configured when it is built in (``openai``, ``anthropic``), offered by a
model-provider plugin, or named by a model the settings choose for a role, the escalation or the
judge. Each built-in provider is asked for its list over HTTP when it can be (an OpenAI-compatible
``GET {base_url}/models``; Anthropic's ``GET /v1/models``, paged), within the configured request
deadline. A plugin provider is listed when its factory has a ``list_models()`` attribute (see
docs/plugins.md). A provider that cannot be listed says why (`Listing.problem`), which is not the
same as listing no models; the configured models are shown either way.

Prices are the ones the run's budget uses (`assay.agents.pricing.price_of`, settings first), looked
up by the exact model string: a model shown ``unpriced`` here is unpriced in the ledger too.
Nothing here needs pydantic-ai, and no key is ever part of what is returned.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from assay.agents.judge import JUDGE_MODEL_ENV
from assay.agents.models import ROLES, ModelChoice, role_choice, strong_choice
from assay.agents.pricing import price_of
from assay.config import ModelPrice, ModelsConfig
from assay.errors import AssayError, UserError

__all__ = [
    "BUILTIN_PROVIDERS",
    "Catalog",
    "CatalogRow",
    "Listing",
    "build_catalog",
    "configured_models",
    "list_anthropic",
    "list_openai",
]

BUILTIN_PROVIDERS = ("anthropic", "openai")
OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
_PAGES = 50
"""Anthropic pages followed at most (1000 models each): a server that always says ``has_more``
cannot keep the command going."""


@dataclass(frozen=True, slots=True)
class Listing:
    """One provider's answer: its models, or why there are none to show."""

    provider: str
    origin: str
    """``built-in``, ``plugin '<name>'``, or ``unknown`` (a configured model names it, nothing
    offers it)."""
    models: tuple[str, ...] | None
    """The model names it listed (sorted, maybe empty); None when it could not be listed."""
    problem: str | None = None
    """Why it could not be listed (``no OPENAI_API_KEY``, ``connection refused``, ...)."""
    endpoint: str | None = None
    """Where it was asked (no credentials in it)."""


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One model of one provider."""

    provider: str
    model: str
    configured_as: tuple[str, ...]
    """The roles (``architect``, ..., ``strong``, ``judge``) the settings give this model."""
    price: ModelPrice | None
    price_from: Literal["settings", "assay"] | None
    source: Literal["listed", "configured"]
    """``listed``: the provider's list has it; ``configured``: only the settings name it."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every configured provider's listing and every model row, sorted."""

    listings: tuple[Listing, ...]
    rows: tuple[CatalogRow, ...]

    def as_json(self) -> dict[str, Any]:
        """The catalog for ``--json``: providers, then models."""
        return {
            "providers": [
                {
                    "provider": x.provider,
                    "origin": x.origin,
                    "listed": x.models is not None,
                    "models": None if x.models is None else len(x.models),
                    "problem": x.problem,
                    "endpoint": x.endpoint,
                }
                for x in self.listings
            ],
            "models": [
                {
                    "provider": r.provider,
                    "model": r.model,
                    "configured_as": list(r.configured_as),
                    "input_usd_per_mtok": r.price.input if r.price else None,
                    "output_usd_per_mtok": r.price.output if r.price else None,
                    "price_from": r.price_from,
                    "source": r.source,
                }
                for r in self.rows
            ],
        }


def configured_models(config: ModelsConfig, *, env: Mapping[str, str]) -> list[ModelChoice]:
    """The model each role, the escalation (``strong``) and the judge get from the environment
    and settings (the precedence `assay run` uses, without flags); a role nothing names is left
    out. A model string without ``<provider>:`` is a `UserError` naming where it came from."""
    found = [role_choice(config, role, env=env) for role in ROLES]
    found.append(strong_choice(config, env=env))
    judge = env.get(JUDGE_MODEL_ENV)
    found.append(ModelChoice("judge", judge, JUDGE_MODEL_ENV) if judge else None)
    chosen = [c for c in found if c is not None]
    for c in chosen:
        provider, sep, name = c.model.partition(":")
        if not (provider and sep and name):
            raise UserError(
                f"{c.source} names the model {c.model!r} (for {c.role}); a model looks like "
                "'anthropic:<name>', 'openai:<name>' or '<plugin provider>:<name>'"
            )
    return chosen


def list_openai(
    env: Mapping[str, str], *, base_url: str | None, timeout_s: float, client: httpx.Client
) -> Listing:
    """An OpenAI-compatible server's models (``GET {base_url}/models``): `base_url` (the
    settings' ``base_url``), else ``OPENAI_BASE_URL``, else OpenAI's. A server of one's own
    needs no key; OpenAI's does."""
    url = base_url or env.get("OPENAI_BASE_URL")
    key = env.get("OPENAI_API_KEY")
    if not key and not url:
        return Listing("openai", "built-in", None, "no OPENAI_API_KEY (nor OPENAI_BASE_URL)")
    endpoint = f"{(url or OPENAI_URL).rstrip('/')}/models"
    headers = {"Authorization": f"Bearer {key}"} if key else {}

    def fetch() -> tuple[str, ...]:
        body = _get(client, endpoint, headers=headers, params={}, timeout_s=timeout_s)
        return _ids(body)

    return _listing("openai", "built-in", endpoint, fetch)


def list_anthropic(env: Mapping[str, str], *, timeout_s: float, client: httpx.Client) -> Listing:
    """Anthropic's models (``GET /v1/models``, every page), at ``ANTHROPIC_BASE_URL`` when set
    (as its SDK, which the runs use, reads it)."""
    key = env.get("ANTHROPIC_API_KEY")
    if not key:
        return Listing("anthropic", "built-in", None, "no ANTHROPIC_API_KEY")
    endpoint = f"{(env.get('ANTHROPIC_BASE_URL') or ANTHROPIC_URL).rstrip('/')}/v1/models"
    headers = {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}

    def fetch() -> tuple[str, ...]:
        names: list[str] = []
        params: dict[str, str] = {"limit": "1000"}
        for _ in range(_PAGES):
            body = _get(client, endpoint, headers=headers, params=params, timeout_s=timeout_s)
            names += _ids(body)
            last = body.get("last_id")
            if body.get("has_more") is not True or not isinstance(last, str) or not last:
                break
            params = {"limit": "1000", "after_id": last}
        return tuple(names)

    return _listing("anthropic", "built-in", endpoint, fetch)


def _list_plugin(name: str, plugin: str, factory: object) -> Listing:
    """A plugin provider's models from its factory's optional ``list_models()``."""
    origin = f"plugin '{plugin}'"
    lister = getattr(factory, "list_models", None)
    if not callable(lister):
        return Listing(name, origin, None, "the plugin offers no model list (list_models)")
    try:
        made = lister()
    except AssayError as exc:  # said on purpose by the plugin
        return Listing(name, origin, None, str(exc))
    except Exception as exc:  # the plugin's failure: named, and the others are still listed
        return Listing(name, origin, None, f"the plugin raised {type(exc).__name__}: {exc}")
    if isinstance(made, str) or not isinstance(made, Iterable):
        return Listing(name, origin, None, f"list_models returned {type(made).__name__}")
    names = list(made)
    if not all(isinstance(n, str) and n for n in names):
        return Listing(name, origin, None, "list_models returned something other than names")
    return Listing(name, origin, tuple(sorted(set(names))))


class _Unlisted(Exception):
    """Why a provider's list could not be had, in the words the user sees."""


def _get(
    client: httpx.Client,
    url: str,
    *,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    try:
        response = client.get(url, headers=dict(headers), params=dict(params), timeout=timeout_s)
    except httpx.TimeoutException:
        raise _Unlisted(f"no answer within {timeout_s:g}s") from None
    except httpx.ConnectError as exc:
        raise _Unlisted(_connect_problem(exc)) from None
    except httpx.HTTPError as exc:
        raise _Unlisted(f"{type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise _Unlisted(f"HTTP {response.status_code}{_said(response)}")
    try:
        body = response.json()
    except ValueError:
        raise _Unlisted("the answer is not JSON") from None
    if not isinstance(body, dict):
        raise _Unlisted("the answer is not a JSON object")
    return body


def _connect_problem(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:  # httpcore's error wraps the OSError that says what happened
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    return "connection refused" if "refused" in text.lower() else f"cannot connect: {text}"


def _said(response: httpx.Response) -> str:
    """The provider's own error message (OpenAI's and Anthropic's ``error.message``), if any."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""


def _ids(body: Mapping[str, Any]) -> tuple[str, ...]:
    data = body.get("data")
    if not isinstance(data, list):
        raise _Unlisted("the answer has no 'data' list")
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    if len(ids) != len(data) or not all(isinstance(i, str) and i for i in ids):
        raise _Unlisted("a model in the answer has no 'id'")
    return tuple(str(i) for i in ids)


def _listing(
    provider: str, origin: str, endpoint: str, fetch: Callable[[], tuple[str, ...]]
) -> Listing:
    shown = _shown(endpoint)
    try:
        names = fetch()
    except _Unlisted as exc:
        return Listing(provider, origin, None, str(exc), shown)
    return Listing(provider, origin, tuple(sorted(set(names))), None, shown)


def _shown(url: str) -> str:
    """`url` without any user or password in it."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None)) if parsed.userinfo else url


def build_catalog(
    config: ModelsConfig,
    *,
    env: Mapping[str, str],
    plugin_providers: Mapping[str, Any],
    client: httpx.Client,
) -> Catalog:
    """List every configured provider and join the lists with the configured models and prices.

    `plugin_providers` is `assay.plugins.model_providers(pm)` (guarded factories, each with
    ``plugin`` and ``factory``); a plugin offering a built-in provider's name is not used by
    runs, so it is not listed here either.
    """
    chosen = configured_models(config, env=env)
    # Both asked at once: a provider that never answers costs one deadline, not one each.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="assay-models") as pool:
        asked = [
            pool.submit(
                list_openai, env, base_url=config.base_url, timeout_s=config.timeout_s,
                client=client,
            ),
            pool.submit(list_anthropic, env, timeout_s=config.timeout_s, client=client),
        ]  # fmt: skip
        listings: dict[str, Listing] = {x.provider: x for x in (f.result() for f in asked)}
    for name, offered in plugin_providers.items():
        if name not in listings:
            raw = getattr(offered, "factory", offered)
            listings[name] = _list_plugin(name, getattr(offered, "plugin", name), raw)
    for c in chosen:
        provider = c.model.partition(":")[0]
        if provider not in listings:
            problem = "no built-in provider or plugin offers it"
            listings[provider] = Listing(provider, "unknown", None, problem)

    roles: dict[str, list[str]] = {}
    for c in chosen:
        roles.setdefault(c.model, []).append(c.role)
    rows: dict[str, CatalogRow] = {}
    for listing in listings.values():
        for name in listing.models or ():
            key = f"{listing.provider}:{name}"
            rows[key] = _row(key, tuple(roles.get(key, ())), "listed", config.prices)
    for key, used_by in roles.items():
        if key not in rows:
            rows[key] = _row(key, tuple(used_by), "configured", config.prices)
    return Catalog(
        listings=tuple(sorted(listings.values(), key=lambda x: x.provider)),
        rows=tuple(sorted(rows.values(), key=lambda r: (r.provider, r.model))),
    )


def _row(
    key: str,
    used_by: tuple[str, ...],
    source: Literal["listed", "configured"],
    prices: Mapping[str, ModelPrice],
) -> CatalogRow:
    provider, _, model = key.partition(":")
    price = price_of(key, prices)  # the lookup the budget makes: settings first, then assay's
    price_from: Literal["settings", "assay"] | None = None
    if price is not None:
        price_from = "settings" if key in prices else "assay"
    return CatalogRow(provider, model, used_by, price, price_from, source)

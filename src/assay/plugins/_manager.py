"""Loading plugins: built-ins, entry points and named modules, in a documented order.

Order: the built-ins in `BUILTIN_PLUGINS` order, then every other plugin sorted by name (its
entry-point name, or its module path when loaded by module). Hooks are called in that order and
the first plugin to offer a name (a gate, a sandbox backend, ...) keeps it.

A plugin that cannot be loaded or misbehaves is recorded as a `PluginProblem` naming it. If the
plugin is required (``plugins.require``, or a built-in) the run fails with a `PluginError`;
otherwise the plugin is skipped with a `PluginWarning`.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

import assay
from assay.errors import UserError
from assay.plugins._protocols import PluginRefused, protocol_problems
from assay.plugins._spec import AssaySpec, PluginWarning

if TYPE_CHECKING:
    from assay.config import Settings

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUPS",
    "MIN_PLUGIN_API_VERSION",
    "PLUGINS_ENV",
    "AssayPluginManager",
    "PluginError",
    "PluginProblem",
    "PluginRecord",
    "load_plugins",
    "make_plugin_manager",
]

#: Entry-point groups scanned for third-party plugins.
ENTRY_POINT_GROUPS = ("assay.gates", "assay.plugins")

#: Modules that ship with assay, registered exactly like third-party plugins.
BUILTIN_PLUGINS = ("assay.gates.builtin",)

#: Set to 1 to load only the plugins named explicitly (``plugins.load``, ``plugins.require``,
#: `PLUGINS_ENV`).
AUTOLOAD_ENV = "ASSAY_DISABLE_PLUGIN_AUTOLOAD"

#: Comma-separated plugin names (entry-point names or module paths) to load in addition.
PLUGINS_ENV = "ASSAY_PLUGINS"

#: The oldest plugin API version this assay still serves.
MIN_PLUGIN_API_VERSION = 1

ProblemKind = Literal[
    "missing", "blocked", "import", "api-version", "invalid", "hook-error", "bad-result", "conflict"
]
Origin = Literal["builtin", "entry-point", "module"]
Status = Literal["loaded", "blocked", "broken", "not-loaded"]


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """Something wrong with one plugin, in words that name it."""

    plugin: str
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"plugin '{self.plugin}' {self.message}"


class PluginError(UserError):
    """A required plugin is missing, blocked or broken."""

    def __init__(self, problem: PluginProblem, source: Path | None = None) -> None:
        self.problem = problem
        where = f" in {source}" if source else ""
        super().__init__(f"{problem} (it is required: plugins.require{where})")


@dataclass(slots=True)
class PluginRecord:
    """What assay knows about one plugin, loaded or not."""

    name: str
    origin: Origin
    status: Status
    value: str
    """The entry point's ``module:attr`` or the module path."""
    distribution: str | None = None
    version: str | None = None
    group: str | None = None
    api_version: int | None = None
    """The API version the plugin declares (``ASSAY_PLUGIN_API``); None when it does not."""
    problems: list[PluginProblem] = field(default_factory=list)


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form, for comparing names from config."""
    return re.sub(r"[-_.]+", "-", name).lower()


class AssayPluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and what went wrong."""

    def __init__(
        self, *, required: Iterable[str] = (), strict: bool = True, source: Path | None = None
    ) -> None:
        super().__init__("assay")
        self.add_hookspecs(AssaySpec)
        self.records: dict[str, PluginRecord] = {}
        self.problems: list[PluginProblem] = []
        self.required = tuple(required)
        self.strict = strict
        """When True a required plugin's problem raises and others warn; False only records."""
        self.source = source
        self.autoload = True

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register `plugin` as pluggy does, then check it against the extension axes'
        Protocols (`assay.plugins._protocols`): one that does not satisfy them is unregistered
        again and `PluginRefused` says what is missing."""
        registered = super().register(plugin, name)
        if registered is None:  # blocked
            return None
        problems = protocol_problems(self, plugin)
        if problems:
            self.unregister(plugin)
            raise PluginRefused(plugin, registered, problems)
        return registered

    def distribution(self, plugin: str) -> str | None:
        """The distribution that installed `plugin`, when known."""
        record = self.records.get(plugin)
        return record.distribution if record is not None else None

    def plugin_order(self) -> list[str]:
        """Names of the loaded plugins in calling order: built-ins, then sorted by name."""
        loaded = [r for r in self.records.values() if r.status == "loaded"]
        builtins = [r.name for r in loaded if r.origin == "builtin"]
        others = {r.name for r in loaded if r.origin != "builtin"}
        # Plugins registered in-process with `pm.register(obj, name=...)` have no record.
        others |= {
            name
            for name, plugin in self.list_name_plugin()
            if plugin is not None and name not in self.records
        }
        return builtins + sorted(others)

    def matches(self, wanted: str, record: PluginRecord) -> bool:
        """Whether a name from config denotes `record` (its own name or its distribution's)."""
        if wanted == record.name:
            return True
        return record.distribution is not None and normalize(wanted) == normalize(
            record.distribution
        )

    def is_required(self, name: str) -> bool:
        """Built-ins and plugins listed in ``plugins.require`` are required."""
        record = self.records.get(name)
        if record is None:
            return name in self.required
        return record.origin == "builtin" or any(self.matches(w, record) for w in self.required)

    def report(self, plugin: str, kind: ProblemKind, message: str) -> None:
        """Record a problem; raise if the plugin is required, else warn (when strict)."""
        problem = PluginProblem(plugin, kind, message)
        self.problems.append(problem)
        if plugin in self.records:
            self.records[plugin].problems.append(problem)
        if not self.strict:
            return
        if self.is_required(plugin):
            raise PluginError(problem, self.source)
        warnings.warn(PluginWarning(f"{problem}; skipped"), stacklevel=3)


def make_plugin_manager(
    *,
    settings: Settings | None = None,
    autoload: bool | None = None,
    load: Iterable[str] = (),
) -> AssayPluginManager:
    """Load the built-ins and plugins under `settings`; fail if a required one is not usable.

    `autoload` None reads `AUTOLOAD_ENV`. `load` names extra plugins to load, like
    ``plugins.load``.
    """
    pm = load_plugins(settings=settings, autoload=autoload, load=load, strict=True)
    return pm


def load_plugins(
    *,
    settings: Settings | None = None,
    autoload: bool | None = None,
    load: Iterable[str] = (),
    strict: bool = True,
) -> AssayPluginManager:
    """Like `make_plugin_manager`; with ``strict=False`` problems are only recorded."""
    from assay.config import PluginsConfig

    config = settings.plugins if settings is not None else PluginsConfig()
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "").strip() in ("", "0")
    env_names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    named = list(dict.fromkeys([*config.load, *env_names, *load]))
    source = settings.source if settings is not None else None
    pm = AssayPluginManager(required=config.require, strict=False, source=source)
    pm.autoload = autoload
    for name in config.block:
        pm.set_blocked(name)
    loader = _Loader(pm, blocked=config.block, wanted=[*named, *config.require])
    for module_name in BUILTIN_PLUGINS:
        loader.module(module_name, origin="builtin")
    loader.entry_points(autoload=autoload)
    for name in named:
        if name not in pm.records and not any(pm.matches(name, r) for r in pm.records.values()):
            loader.module(name, origin="module")
    _check_required(pm, config.require)
    pm.strict = strict
    if strict:
        _enforce(pm)
    return pm


def _check_required(pm: AssayPluginManager, required: Iterable[str]) -> None:
    for wanted in required:
        found = [r for r in pm.records.values() if pm.matches(wanted, r)]
        if not found:
            pm.report(wanted, "missing", "is not installed (no entry point or module by that name)")
        elif all(r.status == "blocked" for r in found):
            pm.report(wanted, "blocked", "is blocked by plugins.block")


def _enforce(pm: AssayPluginManager) -> None:
    for problem in pm.problems:
        if pm.is_required(problem.plugin):
            raise PluginError(problem, pm.source)
    for problem in pm.problems:
        warnings.warn(PluginWarning(f"{problem}; skipped"), stacklevel=3)


@dataclass(slots=True)
class _Loader:
    pm: AssayPluginManager
    blocked: list[str]
    wanted: list[str]

    def _blocked(self, record: PluginRecord) -> bool:
        return self.pm.is_blocked(record.name) or any(
            self.pm.matches(b, record) for b in self.blocked
        )

    def entry_points(self, *, autoload: bool) -> None:
        eps = [ep for group in ENTRY_POINT_GROUPS for ep in md.entry_points(group=group)]
        for ep in sorted(eps, key=lambda e: (e.name, ENTRY_POINT_GROUPS.index(e.group))):
            dist = ep.dist
            record = PluginRecord(
                name=ep.name,
                origin="entry-point",
                status="not-loaded",
                value=ep.value,
                distribution=dist.name if dist else None,
                version=dist.version if dist else None,
                group=ep.group,
            )
            if ep.name in self.pm.records:
                self._duplicate(record)
                continue
            self.pm.records[ep.name] = record
            if self._blocked(record):
                record.status = "blocked"
            elif autoload or any(self.pm.matches(w, record) for w in self.wanted):
                self._register(record, lambda ep=ep: ep.load())

    def _duplicate(self, record: PluginRecord) -> None:
        first = self.pm.records[record.name]
        if first.value == record.value and first.distribution == record.distribution:
            return  # the same plugin listed under both groups
        self.pm.report(
            record.name,
            "conflict",
            f"is defined twice: '{first.value}' ({first.distribution}) and "
            f"'{record.value}' ({record.distribution}); the second is ignored",
        )

    def module(self, name: str, *, origin: Origin) -> None:
        dist, version = _distribution_of(name)
        record = PluginRecord(
            name=name,
            origin=origin,
            status="not-loaded",
            value=name,
            distribution=dist,
            version=version,
        )
        self.pm.records[name] = record
        if self._blocked(record):
            record.status = "blocked"
            return
        self._register(record, lambda: importlib.import_module(name))

    def _register(self, record: PluginRecord, load: Any) -> None:
        pm = self.pm
        try:
            plugin = load()
        except Exception as exc:
            record.status = "broken"
            pm.report(record.name, "import", f"could not be imported ({_describe(exc)})")
            return
        if not _api_ok(pm, record, plugin):
            return
        try:
            with warnings.catch_warnings():
                # pluggy warns for a deprecated hook; keep it visible even where warnings are
                # errors, so a deprecation never turns into a broken plugin.
                warnings.simplefilter("always", PluginWarning)
                pm.register(plugin, name=record.name)
        except PluginRefused as exc:
            record.status = "broken"
            pm.report(record.name, "invalid", f"was refused: {'; '.join(exc.problems)}")
            return
        except Exception as exc:
            record.status = "broken"
            pm.report(record.name, "invalid", f"was refused by the plugin manager ({exc})")
            return
        unknown = _unknown_hooks(pm, plugin)
        if unknown:
            pm.unregister(plugin)
            record.status = "broken"
            pm.report(
                record.name,
                "invalid",
                f"implements unknown hook(s) {', '.join(unknown)} "
                f"(plugin API {assay.PLUGIN_API_VERSION}; see docs/plugins.md)",
            )
            return
        record.status = "loaded"


def _api_ok(pm: AssayPluginManager, record: PluginRecord, plugin: object) -> bool:
    declared = getattr(plugin, "ASSAY_PLUGIN_API", None)
    if declared is None:
        return True
    if not isinstance(declared, int) or isinstance(declared, bool):
        record.status = "broken"
        pm.report(record.name, "api-version", f"declares ASSAY_PLUGIN_API={declared!r}; not an int")
        return False
    record.api_version = declared
    supported = range(MIN_PLUGIN_API_VERSION, assay.PLUGIN_API_VERSION + 1)
    if declared not in supported:
        record.status = "broken"
        pm.report(
            record.name,
            "api-version",
            f"needs plugin API {declared}; this assay {assay.__version__} serves "
            f"{supported.start}..{supported.stop - 1}",
        )
        return False
    return True


def _unknown_hooks(pm: AssayPluginManager, plugin: object) -> list[str]:
    unknown = []
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and not impl.opts["optionalhook"]:
                    unknown.append(caller.name)
    return sorted(set(unknown))


def _distribution_of(module_name: str) -> tuple[str | None, str | None]:
    top = module_name.split(".")[0]
    if top == "assay":
        return "assay", assay.__version__
    names = md.packages_distributions().get(top) or []
    if not names:
        return None, None
    try:
        return names[0], md.version(names[0])
    except md.PackageNotFoundError:
        return names[0], None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

"""What each subsystem asks the plugins for: gates, sandboxes, providers, roles, judges, sections.

Each helper asks every plugin through pluggy, one plugin at a time (`_results`: hook wrappers
apply; after the built-ins, ``tryfirst`` plugins are asked first and ``trylast`` ones last, each
group in `plugin_order`),
validates what it returned, and keeps the first entry when two plugins offer the same name. A
hook that raises or returns the wrong type is reported against its plugin
(`AssayPluginManager.report`). Each factory is handed out guarded (`PluginFactory`), so a factory
that raises when its caller uses it is a `PluginFailure` naming the plugin as well.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay.gates.base import Gate
from assay.plugins._gate import PluginGate
from assay.plugins._guard import PluginFactory
from assay.plugins._manager import AssayPluginManager
from assay.plugins._protocols import NAME as _NAME
from assay.plugins._spec import ReportContext, ReportSection
from assay.plugins._spec import RoleFactory as _RoleFactory

__all__ = [
    "Offer",
    "gate_offers",
    "gates",
    "judges",
    "model_providers",
    "offers",
    "report_sections",
    "roles",
    "sandbox_backends",
]

_GATE_ATTRS = (
    "name", "tool", "cost", "per_file", "default_fail_on", "applies", "version", "inputs", "scan",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Offer:
    """One named thing a plugin offers through a hook."""

    plugin: str
    name: str
    value: Any


def _asking_order(pm: AssayPluginManager, hook_name: str) -> list[tuple[tuple[int, int], Any]]:
    """The plugins implementing `hook_name` (pluggy's ``HookImpl``, wrappers left out), each with
    its rank: the built-ins first (a mark cannot take a built-in's name: block it instead), then
    ``tryfirst``, unmarked and ``trylast`` plugins, each group in `plugin_order`."""
    position = {name: n for n, name in enumerate(pm.plugin_order())}
    builtin = {r.name for r in pm.records.values() if r.origin == "builtin"}

    def mark(impl: Any) -> int:
        if impl.plugin_name in builtin:
            return 0
        return 1 if impl.tryfirst else 3 if impl.trylast else 2

    ranked = [
        ((mark(impl), position[impl.plugin_name]), impl)
        for impl in getattr(pm.hook, hook_name).get_hookimpls()
        if not (impl.wrapper or impl.hookwrapper) and impl.plugin_name in position
    ]
    return sorted(ranked, key=lambda pair: pair[0])


def _results(pm: AssayPluginManager, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    """Each plugin's result for `hook_name`, in `_asking_order`; failures are reported against
    the plugin, not raised.

    Called through pluggy (`pm.subset_hook_caller`, a caller over ``pm.hook``), one implementing
    plugin at a time so a result or a failure belongs to one plugin, while pluggy still applies
    the hook wrappers (around each plugin's call) and the order marks. A hook that returns None
    (or whose result a wrapper dropped) yields None, which the callers report as a bad result.
    """
    impls = [impl for _, impl in _asking_order(pm, hook_name)]
    for impl in impls:
        plugin: str = impl.plugin_name
        others = [other.plugin for other in impls if other is not impl]
        call_one = pm.subset_hook_caller(hook_name, remove_plugins=others)
        try:
            results = call_one(**kwargs)
        except Exception as exc:
            pm.report(plugin, "hook-error", f"hook {hook_name} raised {type(exc).__name__}: {exc}")
            continue
        yield plugin, results[0] if results else None


def _keep_first(pm: AssayPluginManager, what: str, offers: list[Offer]) -> list[Offer]:
    kept: dict[str, Offer] = {}
    for offer in offers:
        first = kept.get(offer.name)
        if first is None:
            kept[offer.name] = offer
        else:
            pm.report(
                offer.plugin,
                "conflict",
                f"offers {what} '{offer.name}', already offered by '{first.plugin}'; ignored",
            )
    return list(kept.values())


def _gate_problem(obj: object) -> str | None:
    if isinstance(obj, type):
        return f"{obj.__name__} is a class; return an instance"
    if not isinstance(obj, Gate):
        missing = [a for a in _GATE_ATTRS if not hasattr(obj, a)]
        return f"{type(obj).__name__} is not a Gate (missing {', '.join(missing)})"
    if not isinstance(obj.name, str) or not _NAME.match(obj.name):
        return f"gate name {obj.name!r} is not lower-case letters, digits, '-', '_' or '.'"
    if not inspect.iscoroutinefunction(obj.scan):
        return f"gate '{obj.name}': scan() must be 'async def'"
    if not isinstance(obj.cost, int):
        return f"gate '{obj.name}': cost must be an int"
    return None


def _plugin_gates(pm: AssayPluginManager, plugin: str, hook: str, result: Any) -> list[Gate]:
    if not isinstance(result, Sequence) or isinstance(result, str | bytes):
        pm.report(plugin, "bad-result", f"hook {hook} returned {type(result).__name__}, not a list")
        return []
    items = list(result)
    if hook == "assay_gate_classes":
        try:
            items = [cls() for cls in items]
        except Exception as exc:
            pm.report(plugin, "hook-error", f"a gate class from {hook} raised {exc!r}")
            return []
    for item in items:
        problem = _gate_problem(item)
        if problem is not None:
            pm.report(plugin, "bad-result", f"hook {hook} returned a bad gate: {problem}")
            return []
    return list(items)


def gate_offers(pm: AssayPluginManager) -> list[Offer]:
    """Every valid gate with the plugin that offers it, first offer of a name kept."""
    found: list[Offer] = []
    hooks = ("assay_gates", "assay_gate_classes")
    for hook in hooks:
        for plugin, result in _results(pm, hook):
            found += [Offer(plugin, g.name, g) for g in _plugin_gates(pm, plugin, hook, result)]
    # one order across both hooks: the rank each plugin is asked in (tryfirst, order, trylast)
    rank: dict[str, tuple[int, int]] = {}
    for hook in reversed(hooks):  # the current hook's mark wins for a plugin implementing both
        rank |= {impl.plugin_name: key for key, impl in _asking_order(pm, hook)}
    found.sort(key=lambda o: rank[o.plugin])
    return _keep_first(pm, "gate", found)


def gates(pm: AssayPluginManager) -> list[Gate]:
    """Every gate, in plugin order; third-party gates are guarded so a crash names the plugin."""
    builtin = {r.name for r in pm.records.values() if r.origin == "builtin"}
    return [
        o.value
        if o.plugin in builtin
        else PluginGate(o.value, plugin=o.plugin, distribution=pm.distribution(o.plugin))
        for o in gate_offers(pm)
    ]


_MAPPING_HOOKS = {
    "sandbox backend": "assay_sandbox_backends",
    "model provider": "assay_model_providers",
    "role": "assay_roles",
    "judge": "assay_judges",
}


def offers(pm: AssayPluginManager, what: str) -> list[Offer]:
    """Name -> factory offers for `what` ("sandbox backend", "model provider", "role", "judge")."""
    hook = _MAPPING_HOOKS[what]
    found: list[Offer] = []
    for plugin, result in _results(pm, hook):
        if not isinstance(result, Mapping):
            pm.report(
                plugin, "bad-result", f"hook {hook} returned {type(result).__name__}, not a dict"
            )
            continue
        bad = [
            f"{k!r}" for k, v in result.items() if not (isinstance(k, str) and _NAME.match(k))
        ] + [f"{k!r} (not callable)" for k, v in result.items() if not callable(v)]
        if bad:
            pm.report(plugin, "bad-result", f"hook {hook} returned bad entries: {', '.join(bad)}")
            continue
        found += [Offer(plugin, name, factory) for name, factory in result.items()]
    return _keep_first(pm, what, found)


def _factories(pm: AssayPluginManager, what: str) -> dict[str, PluginFactory]:
    return {
        o.name: PluginFactory(
            o.value, plugin=o.plugin, name=o.name, what=what, distribution=pm.distribution(o.plugin)
        )
        for o in offers(pm, what)
    }


def sandbox_backends(pm: AssayPluginManager) -> dict[str, PluginFactory]:
    """Sandbox backend name -> its guarded `SandboxBackend` factory."""
    return _factories(pm, "sandbox backend")


def model_providers(pm: AssayPluginManager) -> dict[str, PluginFactory]:
    """Model provider name -> its guarded `ModelProvider` factory ``(model_name) -> Model``."""
    return _factories(pm, "model provider")


def roles(pm: AssayPluginManager) -> dict[str, _RoleFactory]:
    """Role name -> factory ``(model) -> Agent``, checked: a wrong agent is reported by plugin.

    Unknown role names are reported here; see `assay.agents.roles.checked_roles`.
    """
    from assay.agents.roles import checked_roles

    return dict(checked_roles(pm))


def judges(pm: AssayPluginManager) -> dict[str, PluginFactory]:
    """Judge name -> its guarded `JudgeFactory` factory."""
    return _factories(pm, "judge")


def report_sections(pm: AssayPluginManager, context: ReportContext) -> list[ReportSection]:
    """The sections every plugin adds for `context`, in plugin order, unique by key."""
    found: list[Offer] = []
    hook = "assay_report_sections"
    for plugin, result in _results(pm, hook, context=context):
        items = (
            list(result) if isinstance(result, Sequence) and not isinstance(result, str) else None
        )
        if items is None or not all(isinstance(s, ReportSection) for s in items):
            what = type(result).__name__ if items is None else "items that are not ReportSection"
            pm.report(plugin, "bad-result", f"hook {hook} returned {what}")
            continue
        found += [Offer(plugin, s.key, s) for s in items]
    return [o.value for o in _keep_first(pm, "report section", found)]

"""Checking a plugin against the extension axes' Protocols when it registers.

`AssayPluginManager.register` asks `protocol_problems` about every plugin it registers, from an
entry point, a module named in ``plugins.load`` or ``pm.register(obj, name=...)`` alike. For each
mapping hook the plugin implements (model providers, sandbox backends, judges, roles) its
implementation is called once, on its own, and every factory it offers must be a plain callable
that accepts the call assay makes (`ModelProvider`, `SandboxBackend`, `JudgeFactory`,
`RoleFactory` in `assay.plugins._spec`), under a valid name. The ``assay_report_sections`` hook
(`ReportSections`) needs a run to be called, so its implementation itself is checked: a plain
function, not ``async def`` or a generator. Anything missing refuses the plugin
(`PluginRefused`): it is never registered, and the message says what is missing.

Gates are checked where they are collected (`assay.plugins._registry`), each against the `Gate`
protocol.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from pluggy import HookImpl

__all__ = ["AXES", "Axis", "PluginRefused", "call_problem", "protocol_problems"]

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
"""What a name a plugin offers (gate, backend, provider, judge, role, section key) looks like."""


class _Arg:
    """A stand-in argument, used only to see whether a factory's signature accepts a call."""


@dataclass(frozen=True, slots=True)
class Axis:
    """One mapping hook's factories: the Protocol they satisfy and the call assay makes."""

    label: str
    """What the factory makes, in messages: ``model provider``, ``sandbox backend``, ..."""
    hook: str
    protocol: str
    """The Protocol's name in `assay.plugins` (for messages)."""
    call: str
    """How assay calls it, for messages."""
    positional: int
    """How many positional arguments assay passes."""
    keywords: tuple[str, ...]
    """The keyword arguments assay passes."""


AXES: tuple[Axis, ...] = (
    Axis("model provider", "assay_model_providers", "ModelProvider", "factory(name)", 1, ()),
    Axis(
        "sandbox backend", "assay_sandbox_backends", "SandboxBackend",
        "factory(workspace, config, regulated=...)", 2, ("regulated",),
    ),
    Axis(
        "judge", "assay_judges", "JudgeFactory",
        "factory(model=..., samples=..., temperature=...)", 0, ("model", "samples", "temperature"),
    ),
    Axis("role", "assay_roles", "RoleFactory", "factory(model)", 1, ()),
)  # fmt: skip
"""The mapping hooks, each with its factories' Protocol."""

_REPORT_HOOK = "assay_report_sections"


class PluginRefused(pluggy.PluginValidationError):
    """A plugin does not satisfy an extension axis's Protocol; it was not registered."""

    def __init__(self, plugin: object, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        super().__init__(plugin, "; ".join(problems))


def call_problem(axis: Axis, factory: object) -> str | None:
    """What keeps `factory` from being called the way `axis` calls it, or None."""
    if not callable(factory):
        return f"is {type(factory).__name__}, not callable"
    method = None if inspect.isroutine(factory) else vars(type(factory)).get("__call__")
    if inspect.iscoroutinefunction(factory) or inspect.iscoroutinefunction(method):
        return "is 'async def'; assay calls it without awaiting"
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to hold it to
        return None
    try:
        signature.bind(*(_Arg() for _ in range(axis.positional)), **dict.fromkeys(axis.keywords))
    except TypeError as exc:
        return f"cannot be called as {axis.call} ({exc})"
    return None


def _own_impls(pm: pluggy.PluginManager, plugin: object, hook: str) -> list[HookImpl]:
    caller = getattr(pm.hook, hook, None)
    if caller is None:
        return []
    return [
        impl
        for impl in caller.get_hookimpls()
        if impl.plugin is plugin and not (impl.wrapper or impl.hookwrapper)
    ]


def _mapping_problems(axis: Axis, impl: HookImpl) -> list[str]:
    where = f"hook {axis.hook}"
    try:
        offered = impl.function()
    except Exception as exc:
        return [f"{where} raised {type(exc).__name__}: {exc}"]
    if not isinstance(offered, Mapping):
        return [f"{where} returned {type(offered).__name__}, not a dict of name -> factory"]
    problems = []
    for name, factory in offered.items():
        if not (isinstance(name, str) and NAME.match(name)):
            problems.append(
                f"{where} offers the name {name!r}: not lower-case letters, digits, '-', '_', '.'"
            )
            continue
        problem = call_problem(axis, factory)
        if problem is not None:
            problems.append(f"{axis.label} '{name}' is not a {axis.protocol}: it {problem}")
    return problems


def _report_problems(impl: HookImpl) -> list[str]:
    function = impl.function
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        kind = "'async def'"
    elif inspect.isgeneratorfunction(function):
        kind = "a generator"
    else:
        return []
    return [
        f"hook {_REPORT_HOOK} is not a ReportSections: it is {kind}; return a list of "
        "ReportSection from a plain function"
    ]


def protocol_problems(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """What in `plugin` (registered in `pm`) does not satisfy its axis's Protocol."""
    problems: list[str] = []
    for axis in AXES:
        for impl in _own_impls(pm, plugin, axis.hook):
            problems += _mapping_problems(axis, impl)
    for impl in _own_impls(pm, plugin, _REPORT_HOOK):
        problems += _report_problems(impl)
    return problems

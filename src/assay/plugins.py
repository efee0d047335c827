"""The plugin core: hook specifications, the plugin manager, and entry-point discovery.

Built-in gates live in `assay.gates.builtin` and are registered through the very hooks a
third-party distribution implements, so there is one path for both.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from assay.gates.base import Gate

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUPS",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
]

hookspec = pluggy.HookspecMarker("assay")
hookimpl = pluggy.HookimplMarker("assay")

#: Entry-point groups scanned for third-party plugins.
ENTRY_POINT_GROUPS = ("assay.gates", "assay.plugins")

#: Modules that ship with assay, registered exactly like third-party plugins.
BUILTIN_PLUGINS = ("assay.gates.builtin",)


class AssaySpec:
    """Hook specifications. Implement any of these in a module or class and register it."""

    @hookspec
    def assay_gates(self) -> Sequence[Gate]:  # type: ignore[empty-body]
        """Return the gates this plugin provides."""


def make_plugin_manager(*, autoload: bool = True) -> pluggy.PluginManager:
    """A plugin manager with the built-ins and, if `autoload`, every entry-point plugin."""
    pm = pluggy.PluginManager("assay")
    pm.add_hookspecs(AssaySpec)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    if autoload:
        for group in ENTRY_POINT_GROUPS:
            pm.load_setuptools_entrypoints(group)
    pm.check_pending()
    return pm

"""The plugin core: hook specifications, the plugin manager, discovery and the registries.

Built-in gates live in `assay.gates.builtin` and are registered through the very hooks a
third-party distribution implements, so there is one path for both. Subsystems ask for what
plugins offer through the registry helpers (`gates`, `sandbox_backends`, `model_providers`,
`roles`, `judges`, `report_sections`), which call plugins in a fixed order and report a
misbehaving plugin by name. Each extension axis has one Protocol (`ModelProvider`,
`SandboxBackend`, `JudgeFactory`, `RoleFactory`, `ReportSections`), checked when the plugin
registers (`PluginRefused` otherwise); a factory is handed out guarded (`PluginFactory`), so one
that fails when used is a `PluginFailure` naming the plugin. docs/plugins.md is the guide for
plugin authors.
"""

from __future__ import annotations

from assay.plugins._gate import PluginFailure, PluginGate
from assay.plugins._guard import PluginFactory
from assay.plugins._info import PluginInfo, describe_plugins
from assay.plugins._manager import (
    AUTOLOAD_ENV,
    BUILTIN_PLUGINS,
    ENTRY_POINT_GROUPS,
    MIN_PLUGIN_API_VERSION,
    PLUGINS_ENV,
    AssayPluginManager,
    PluginError,
    PluginProblem,
    PluginRecord,
    load_plugins,
    make_plugin_manager,
)
from assay.plugins._protocols import PluginRefused
from assay.plugins._registry import (
    Offer,
    gates,
    judges,
    model_providers,
    report_sections,
    roles,
    sandbox_backends,
)
from assay.plugins._spec import (
    AnyFactory,
    AssaySpec,
    JudgeFactory,
    ModelProvider,
    PluginDeprecationWarning,
    PluginWarning,
    ReportContext,
    ReportSection,
    ReportSections,
    RoleFactory,
    SandboxBackend,
    hookimpl,
    hookspec,
)

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUPS",
    "MIN_PLUGIN_API_VERSION",
    "PLUGINS_ENV",
    "AnyFactory",
    "AssayPluginManager",
    "AssaySpec",
    "JudgeFactory",
    "ModelProvider",
    "Offer",
    "PluginDeprecationWarning",
    "PluginError",
    "PluginFactory",
    "PluginFailure",
    "PluginGate",
    "PluginInfo",
    "PluginProblem",
    "PluginRecord",
    "PluginRefused",
    "PluginWarning",
    "ReportContext",
    "ReportSection",
    "ReportSections",
    "RoleFactory",
    "SandboxBackend",
    "describe_plugins",
    "gates",
    "hookimpl",
    "hookspec",
    "judges",
    "load_plugins",
    "make_plugin_manager",
    "model_providers",
    "report_sections",
    "roles",
    "sandbox_backends",
]

"""The hook specifications: the contract between assay and every plugin, built-in or not.

Each extension point is one hook. A plugin implements any subset of them in a module or class
marked with `hookimpl`. Collector hooks return a sequence or a name -> factory mapping; assay
calls each plugin's implementation on its own, in the documented order, so a failure is always
attributed to the plugin that caused it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy
from pydantic import BaseModel, ConfigDict, Field

from assay.errors import PluginWarning

if TYPE_CHECKING:
    from assay.gates.base import Gate, GateReport

__all__ = [
    "HOOK_CONTRACTS",
    "AssaySpec",
    "Factory",
    "PluginDeprecationWarning",
    "PluginWarning",
    "ReportContext",
    "ReportSection",
    "hookimpl",
    "hookspec",
]

hookspec = pluggy.HookspecMarker("assay")
hookimpl = pluggy.HookimplMarker("assay")

#: A named factory a plugin offers (a sandbox backend, model provider, role or judge).
#: The subsystem that consumes it documents the arguments and the return type.
Factory = Callable[..., Any]


class PluginDeprecationWarning(PluginWarning):
    """A plugin implements a hook that will be removed in a later plugin API version."""


class ReportSection(BaseModel):
    """A section a plugin adds to the evidence report: text plus an optional table.

    Plain data only (no HTML), so the report escapes it and a plugin cannot inject markup.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Stable identifier, unique within a report (e.g. ``git-history``)."""
    title: str = Field(min_length=1)
    """Heading shown to a human."""
    summary: str = ""
    """A paragraph of plain text."""
    columns: list[str] = Field(default_factory=list)
    """Table header; empty for no table."""
    rows: list[list[str]] = Field(default_factory=list)
    """Table rows, each as long as `columns`."""
    data: dict[str, Any] = Field(default_factory=dict)
    """The same facts for machines (goes into the JSON report)."""


@dataclass(frozen=True, slots=True)
class ReportContext:
    """What a report-section hook may look at."""

    root: Path
    """The generated project's root (its git work tree)."""
    run_id: str | None = None
    """The run the report covers, when there is one."""
    gate_report: GateReport | None = None
    """The last gate verdict of that run, when there is one."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Anything else the report builder passes along."""


class AssaySpec:
    """Hook specifications, plugin API version 1 (`assay.PLUGIN_API_VERSION`)."""

    @hookspec
    def assay_gates(self) -> Sequence[Gate]:  # type: ignore[empty-body]
        """Return gate instances (each satisfies `assay.gates.base.Gate`)."""

    @hookspec(
        warn_on_impl=PluginDeprecationWarning(
            "the hook 'assay_gate_classes' is deprecated and will be removed in plugin API 2: "
            "implement 'assay_gates' and return gate instances instead"
        )
    )
    def assay_gate_classes(self) -> Sequence[type[Gate]]:  # type: ignore[empty-body]
        """Deprecated: return gate classes, instantiated without arguments."""

    @hookspec
    def assay_sandbox_backends(self) -> Mapping[str, Factory]:  # type: ignore[empty-body]
        """Return sandbox backend name -> factory building an `assay.sandbox` Sandbox."""

    @hookspec
    def assay_model_providers(self) -> Mapping[str, Factory]:  # type: ignore[empty-body]
        """Return provider name -> factory ``(model_name: str) -> pydantic_ai.models.Model``."""

    @hookspec
    def assay_roles(self) -> Mapping[str, Factory]:  # type: ignore[empty-body]
        """Return role name -> factory building that role's agent definition."""

    @hookspec
    def assay_judges(self) -> Mapping[str, Factory]:  # type: ignore[empty-body]
        """Return judge name -> factory building a scenario judge."""

    @hookspec
    def assay_report_sections(  # type: ignore[empty-body]
        self, context: ReportContext
    ) -> Sequence[ReportSection]:
        """Return the sections this plugin adds to the evidence report for `context`."""


#: Hook name -> the kind of result it collects ("sequence" or "mapping") and a short label.
HOOK_CONTRACTS: dict[str, tuple[str, str]] = {
    "assay_gates": ("sequence", "gates"),
    "assay_gate_classes": ("sequence", "gates"),
    "assay_sandbox_backends": ("mapping", "sandboxes"),
    "assay_model_providers": ("mapping", "model providers"),
    "assay_roles": ("mapping", "roles"),
    "assay_judges": ("mapping", "judges"),
    "assay_report_sections": ("sequence", "report sections"),
}

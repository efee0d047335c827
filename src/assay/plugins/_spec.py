"""The hook specifications: the contract between assay and every plugin, built-in or not.

Each extension point is one hook. A plugin implements any subset of them in a module or class
marked with `hookimpl`. Collector hooks return a sequence or a name -> factory mapping; assay
calls each plugin's implementation on its own, in the documented order, so a failure is always
attributed to the plugin that caused it.

Each extension axis has one Protocol, the call assay makes: `ModelProvider`, `SandboxBackend`,
`JudgeFactory`, `RoleFactory` (the factories the mapping hooks offer) and `ReportSections`
(the ``assay_report_sections`` hook itself). A plugin is checked against them when it registers
(`assay.plugins._protocols`): one whose objects cannot be called that way is refused, by name,
before anything calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pluggy
from pydantic import BaseModel, ConfigDict, Field

from assay.errors import PluginWarning

if TYPE_CHECKING:
    from pydantic_ai import Agent
    from pydantic_ai.models import Model

    from assay.agents.judge import Judge
    from assay.config import SandboxConfig
    from assay.gates.base import Gate, GateReport
    from assay.sandbox.base import Sandbox

__all__ = [
    "HOOK_CONTRACTS",
    "AnyFactory",
    "AssaySpec",
    "JudgeFactory",
    "ModelProvider",
    "PluginDeprecationWarning",
    "PluginWarning",
    "ReportContext",
    "ReportSection",
    "ReportSections",
    "RoleFactory",
    "SandboxBackend",
    "hookimpl",
    "hookspec",
]

hookspec = pluggy.HookspecMarker("assay")
hookimpl = pluggy.HookimplMarker("assay")

#: Any of the named factories a plugin offers, before it is known which axis it belongs to
#: (`ModelProvider`, `SandboxBackend`, `JudgeFactory` or `RoleFactory` say how each is called).
#: Not `assay.factory.loop.Factory`, the loop that builds a service.
AnyFactory = Callable[..., object]


class ModelProvider(Protocol):
    """Hook ``assay_model_providers``: ``<provider>:<name>`` model strings.

    Called as ``factory(name)`` with the part after the colon; returns a pydantic-ai ``Model``.
    """

    def __call__(self, model_name: str, /) -> Model:
        """The model called `model_name`."""
        ...


class SandboxBackend(Protocol):
    """Hook ``assay_sandbox_backends``: a backend used by name (``[sandbox] backend``).

    Called as ``factory(workspace, config, regulated=...)``; returns an `assay.sandbox.Sandbox`.
    """

    def __call__(self, workspace: Path, config: SandboxConfig, /, *, regulated: bool) -> Sandbox:
        """A sandbox bound to `workspace`, configured by `config` (the ``[sandbox]`` section)."""
        ...


class JudgeFactory(Protocol):
    """Hook ``assay_judges``: a scenario judge used by name (``--judge`` / ``ASSAY_JUDGE``).

    Called as ``factory(model=..., samples=..., temperature=...)`` (`model` may be None);
    returns an `assay.agents.judge.Judge` (a subclass may override ``judge``).
    """

    def __call__(self, *, model: Model | None, samples: int, temperature: float | None) -> Judge:
        """The judge."""
        ...


class RoleFactory(Protocol):
    """Hook ``assay_roles``: a role's agent in place of the built-in one.

    Called as ``factory(model)``; returns a pydantic-ai ``Agent`` whose output type is the
    role's message type, or None to keep the built-in agent.
    """

    def __call__(self, model: Model, /) -> Agent[Any, Any] | None:
        """The role's agent on `model`."""
        ...


class ReportSections(Protocol):
    """Hook ``assay_report_sections`` itself: ``(context) -> sections``, a plain function."""

    def __call__(self, context: ReportContext) -> Sequence[ReportSection]:
        """The sections for `context`."""
        ...


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
    def assay_sandbox_backends(self) -> Mapping[str, SandboxBackend]:  # type: ignore[empty-body]
        """Return sandbox backend name -> `SandboxBackend` factory."""

    @hookspec
    def assay_model_providers(self) -> Mapping[str, ModelProvider]:  # type: ignore[empty-body]
        """Return provider name -> `ModelProvider` factory."""

    @hookspec
    def assay_roles(self) -> Mapping[str, RoleFactory]:  # type: ignore[empty-body]
        """Return role name -> `RoleFactory` building that role's agent."""

    @hookspec
    def assay_judges(self) -> Mapping[str, JudgeFactory]:  # type: ignore[empty-body]
        """Return judge name -> `JudgeFactory` building a scenario judge."""

    @hookspec
    def assay_report_sections(  # type: ignore[empty-body]
        self, context: ReportContext
    ) -> Sequence[ReportSection]:
        """Return the sections this plugin adds to the evidence report for `context`
        (the hook is a `ReportSections`)."""


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

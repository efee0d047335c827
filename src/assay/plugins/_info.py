"""A description of every plugin found, for `assay plugins` and its JSON output."""

from __future__ import annotations

from pydantic import BaseModel, Field

from assay.plugins._manager import AssayPluginManager
from assay.plugins._registry import Offer, gate_offers, offers
from assay.plugins._spec import HOOK_CONTRACTS

__all__ = ["PluginInfo", "describe_plugins"]


class PluginInfo(BaseModel):
    """One plugin: where it came from, whether it loaded, and what it provides."""

    name: str
    """Entry-point name, or module path for built-ins and modules named in ``plugins.load``."""
    origin: str
    """``builtin``, ``entry-point`` or ``module``."""
    status: str
    """``loaded``, ``blocked``, ``broken`` or ``not-loaded`` (autoload is off)."""
    distribution: str | None = None
    version: str | None = None
    value: str
    """What was imported: ``module:attr`` or a module path."""
    api_version: int | None = None
    """The plugin API version the plugin declares, if any."""
    required: bool = False
    hooks: list[str] = Field(default_factory=list)
    """The hooks it implements."""
    provides: dict[str, list[str]] = Field(default_factory=dict)
    """Label (``gates``, ``sandboxes``, ...) -> names it provides."""
    problems: list[str] = Field(default_factory=list)


def describe_plugins(pm: AssayPluginManager) -> list[PluginInfo]:
    """Every plugin `pm` knows of, loaded ones in calling order first, then the rest by name."""
    found: list[Offer] = [*gate_offers(pm)]
    labels = {o.plugin + "\0" + o.name: "gates" for o in found}
    for what, label in (
        ("sandbox backend", "sandboxes"),
        ("model provider", "model providers"),
        ("role", "roles"),
        ("judge", "judges"),
    ):
        more = offers(pm, what)
        found += more
        labels.update({o.plugin + "\0" + o.name: label for o in more})
    order = pm.plugin_order()
    rest = sorted(n for n in pm.records if n not in order)
    infos = []
    for name in [*order, *rest]:
        record = pm.records[name]
        plugin = pm.get_plugin(name)
        hooks = sorted(c.name for c in (pm.get_hookcallers(plugin) or []) if plugin is not None)
        provides: dict[str, list[str]] = {}
        for offer in found:
            if offer.plugin == name:
                provides.setdefault(labels[offer.plugin + "\0" + offer.name], []).append(offer.name)
        if "assay_report_sections" in hooks:
            provides.setdefault(HOOK_CONTRACTS["assay_report_sections"][1], []).append("(per run)")
        infos.append(
            PluginInfo(
                name=name,
                origin=record.origin,
                status=record.status,
                distribution=record.distribution,
                version=record.version,
                value=record.value,
                api_version=record.api_version,
                required=pm.is_required(name),
                hooks=hooks,
                provides=provides,
                problems=[p.message for p in record.problems],
            )
        )
    return infos

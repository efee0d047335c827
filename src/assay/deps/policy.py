"""The dependency policy (``[tool.assay.dependencies]``) applied to what a design asks for, to
what uv resolved, and to each component's licence. Every function returns reasons, never raises:
each reason goes back to the architect as it stands."""

from __future__ import annotations

from collections.abc import Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from assay.config import DependencyConfig
from assay.deps.environment import ComponentLicence
from assay.deps.lock import Lock
from assay.messages import PinnedDependency

__all__ = [
    "allowed_names",
    "constraints",
    "licence_problems",
    "requested_problems",
    "requirement_lines",
    "resolved_problems",
]


def _names(entries: Sequence[str]) -> set[str]:
    return {canonicalize_name(Requirement(e).name) for e in entries}


def allowed_names(cfg: DependencyConfig) -> set[str]:
    """Canonical names of the allow-list."""
    return _names(cfg.allow)


def constraints(cfg: DependencyConfig) -> list[str]:
    """The allow-list's version ranges, as resolver constraints (names without a range add
    nothing)."""
    return [e for e in cfg.allow if Requirement(e).specifier]


def requirement_lines(deps: Sequence[PinnedDependency]) -> list[str]:
    """The design's dependencies as PEP 508 lines."""
    return [f"{d.name.strip()}{d.spec.strip()}" for d in deps]


def requested_problems(
    deps: Sequence[PinnedDependency], cfg: DependencyConfig, *, regulated: bool
) -> tuple[list[str], list[str]]:
    """Reasons to refuse what the design asks for, and notes on what is accepted anyway."""
    problems: list[str] = []
    notes: list[str] = []
    allowed, denied = allowed_names(cfg), _names(cfg.deny)
    for line, dep in zip(requirement_lines(deps), deps, strict=True):
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            problems.append(f"dependency {line!r} is not a valid requirement ({exc})")
            continue
        name = canonicalize_name(req.name)
        if req.url:
            problems.append(f"dependency {dep.name!r} names a URL; only index releases are used")
        elif name in denied:
            problems.append(f"{dep.name} is on the dependency deny-list")
        elif name not in allowed and regulated:
            problems.append(
                f"{dep.name} is not on the dependency allow-list (regulated: only these may be "
                f"used: {', '.join(sorted(allowed))})"
            )
        elif name not in allowed:
            notes.append(f"{dep.name} is outside the allow-list (accepted: not regulated)")
    return problems, notes


def resolved_problems(lock: Lock, cfg: DependencyConfig, *, regulated: bool) -> list[str]:
    """Reasons to refuse the resolved set: a denied component anywhere, and under `regulated`
    any component (transitive ones too) outside the allow-list."""
    allowed, denied = allowed_names(cfg), _names(cfg.deny)
    problems = []
    for p in lock.packages:
        via = f" (needed by {', '.join(p.required_by)})" if p.required_by else ""
        if p.name in denied:
            problems.append(f"{p.name} {p.version}{via} is on the dependency deny-list")
        elif regulated and p.name not in allowed:
            problems.append(f"{p.name} {p.version}{via} is not on the dependency allow-list")
    return problems


def licence_problems(found: Sequence[ComponentLicence], cfg: DependencyConfig) -> list[str]:
    """A component whose licence is unknown or outside ``licenses``. An ``OR`` expression needs
    one allowed alternative; otherwise every id must be allowed."""
    allowed = {x.casefold() for x in cfg.licenses}
    problems = []
    for c in found:
        ids = [x.casefold() for x in c.spdx]
        if not ids:
            shown = f" (it says {c.expression!r})" if c.expression else ""
            problems.append(f"{c.name} {c.version}: its licence could not be identified{shown}")
            continue
        either = " OR " in c.expression.upper()
        ok = any(i in allowed for i in ids) if either else all(i in allowed for i in ids)
        if not ok:
            problems.append(
                f"{c.name} {c.version} is licensed {c.expression}, outside the licence policy "
                f"({', '.join(cfg.licenses)})"
            )
    return problems

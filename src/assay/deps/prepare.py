"""One design's dependencies through the whole pipeline (see `assay.deps`): the checker the
architect's output validator calls, and what the loop keeps once a design is accepted."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import Settings
from assay.deps.audit import LockAudit, audit_lock
from assay.deps.environment import ComponentLicence, InstallError, ensure_installed, licences
from assay.deps.lock import Lock, ResolutionError, resolve
from assay.deps.policy import (
    constraints,
    licence_problems,
    requested_problems,
    requirement_lines,
    resolved_problems,
)
from assay.deps.wheelhouse import DownloadError, Wheelhouse, default_wheelhouse
from assay.messages import PinnedDependency

__all__ = ["DependencyGate", "PreparedDependencies", "Resolver"]

Resolver = Callable[..., Lock]
"""`assay.deps.lock.resolve`'s signature; a test may pass a resolver over a local index."""


@dataclass(frozen=True, slots=True)
class PreparedDependencies:
    """An accepted design's dependencies: the lock, the installed folder, and what was found."""

    lock: Lock
    site: Path
    licences: list[ComponentLicence]
    audit: LockAudit
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The ledger payload that says what the service may import, and why it was accepted."""
        by_name = {c.name: c for c in self.licences}
        return {
            "requested": list(self.lock.requested),
            "lock_sha256": hashlib.sha256(self.lock.text.encode()).hexdigest(),
            "python": self.lock.python,
            "platform": self.lock.platform,
            "components": [
                {
                    "name": p.name,
                    "version": p.version,
                    "direct": p.direct,
                    "required_by": list(p.required_by),
                    "hashes": list(p.hashes),
                    "licence": by_name[p.name].expression if p.name in by_name else "",
                }
                for p in self.lock.packages
            ],
            "vulnerabilities": [f.message for f in self.audit.vulnerabilities],
            "not_audited": self.audit.not_audited or self.audit.error,
            "notes": self.notes,
        }


class DependencyGate:
    """Checks a design's dependencies; keeps the last accepted set for the loop.

    `check` returns the reason to send back to the architect, or None. `on_refused` is told
    each refusal (the loop records it in the ledger).
    """

    def __init__(
        self,
        settings: Settings,
        work: Path,
        *,
        wheelhouse: Wheelhouse | None = None,
        resolver: Resolver = resolve,
        on_refused: Callable[[Sequence[str], list[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.work = work
        self.wheelhouse = wheelhouse or default_wheelhouse()
        self.resolver = resolver
        self.on_refused = on_refused
        self.accepted: PreparedDependencies | None = None
        self._seen: dict[tuple[str, ...], PreparedDependencies | str] = {}

    async def check(self, deps: Sequence[PinnedDependency]) -> str | None:
        """None when `deps` may be used (then `accepted` holds them), else why not."""
        lines = tuple(sorted(requirement_lines(deps)))
        if not lines:
            self.accepted = None
            return None
        if lines not in self._seen:
            self._seen[lines] = await self._prepare(deps, lines)
        outcome = self._seen[lines]
        if isinstance(outcome, str):
            if self.on_refused is not None:
                self.on_refused(lines, [outcome])
            return outcome
        self.accepted = outcome
        return None

    async def _prepare(
        self, deps: Sequence[PinnedDependency], lines: tuple[str, ...]
    ) -> PreparedDependencies | str:
        cfg, regulated = self.settings.dependencies, self.settings.regulated
        problems, notes = requested_problems(deps, cfg, regulated=regulated)
        if problems:
            return "; ".join(problems)
        try:
            lock = self.resolver(list(lines), constraints=constraints(cfg), index=cfg.index)
        except ResolutionError as exc:
            return f"the dependencies cannot be resolved: {exc}"
        if problems := resolved_problems(lock, cfg, regulated=regulated):
            return "; ".join(problems)
        try:
            site = ensure_installed(lock, self.wheelhouse, self.work, index=cfg.index)
        except DownloadError as exc:
            return f"the locked wheels could not be fetched: {exc}"
        except InstallError as exc:
            return f"the locked dependencies could not be installed offline: {exc}"
        found = licences(site)
        if problems := licence_problems(found, cfg):
            return "; ".join(problems)
        audit = await audit_lock(lock, self.settings)
        if audit.vulnerabilities:
            return "known vulnerabilities in the locked dependencies: " + "; ".join(
                f"{f.rule_id}: {f.message}" for f in audit.vulnerabilities
            )
        return PreparedDependencies(lock, site, found, audit, notes)

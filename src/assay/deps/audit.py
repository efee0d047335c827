"""pip-audit over a lock, before any code is written: the dependency-audit gate's own scan, run
on a folder holding only the lock (every line pinned and hashed, so no resolver and no temporary
virtualenv: ``--no-deps --disable-pip``)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.config import Settings
from assay.deps.lock import Lock
from assay.gates.base import Finding, GateContext
from assay.gates.depaudit import DepAuditGate, DepAuditOptions

__all__ = ["LockAudit", "audit_lock"]


@dataclass(frozen=True, slots=True)
class LockAudit:
    """What pip-audit found: vulnerabilities, or why it could not say (never both silent)."""

    vulnerabilities: list[Finding] = field(default_factory=list)
    not_audited: str | None = None
    """Why some or all components could not be audited (offline, unknown to the service)."""
    error: str | None = None


async def audit_lock(lock: Lock, settings: Settings) -> LockAudit:
    """Audit every locked component with the project's ``[tool.assay.gates.depaudit]`` options."""
    raw: dict[str, Any] = dict(settings.gate_policy("depaudit").options)
    raw["no_deps"] = True
    options = DepAuditOptions.model_validate(raw).model_dump()
    with tempfile.TemporaryDirectory(prefix="assay-audit-") as scratch:
        root = Path(scratch)
        (root / "requirements.txt").write_text(lock.text, encoding="utf-8")
        ctx = GateContext(
            root=root, files=(), options=options, report_dir=root / "report",
            all_files=("requirements.txt",),
        )  # fmt: skip
        scan = await DepAuditGate().scan(ctx, ["requirements.txt"])
    return LockAudit(scan.findings, scan.not_evaluated, scan.error)

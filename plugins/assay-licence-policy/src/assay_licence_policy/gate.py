"""The licence-policy gate: every dependency's licence against ``allow`` / ``deny``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.gates.base import Finding, GateContext, Scan, SeverityName, fingerprint
from pydantic import BaseModel, ConfigDict

from assay_licence_policy.deps import Dependency, declared, installed, requirement_files, resolve
from assay_licence_policy.licences import judge, licence_of

__all__ = ["DEFAULT_DENY", "LicenceOptions", "LicencePolicyGate"]

#: Strong copyleft and source-available licences; override with ``deny = [...]``.
DEFAULT_DENY = ["GPL-*", "AGPL-*", "SSPL-*"]


class LicenceOptions(BaseModel):
    """Options for ``[tool.assay.gates.licence-policy]``."""

    model_config = ConfigDict(extra="forbid")

    allow: list[str] = []
    """Globs over SPDX ids; when set, every licence must match one."""
    deny: list[str] = DEFAULT_DENY
    """Globs over SPDX ids that fail the gate."""
    unknown: SeverityName = "medium"
    """Severity of a dependency whose licence cannot be read."""
    environment: str | None = None
    """Venv or site-packages folder (relative to the root) holding the dependencies."""
    ignore: list[str] = []
    """Distribution names not checked (e.g. the project's own internal packages)."""
    transitive: bool = True
    """Follow dependencies of dependencies."""


class LicencePolicyGate:
    """Licences of the declared dependencies and what they pull in."""

    name = "licence-policy"
    tool = "assay-licence-policy"
    cost = 1
    per_file = False
    default_fail_on: SeverityName = "medium"
    options_model = LicenceOptions

    def applies(self, ctx: GateContext) -> bool:
        """A project that declares dependencies."""
        return bool(requirement_files(ctx.all_files))

    def version(self) -> str:
        """This plugin's version."""
        from assay_licence_policy import __version__

        return __version__

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """The files that declare dependencies."""
        return requirement_files(ctx.all_files)

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Resolve the dependencies and judge each licence."""
        opts = LicenceOptions.model_validate(ctx.options)
        site = _environment(ctx.root, opts.environment)
        try:
            roots = declared(ctx.root, files)
        except ValueError as exc:
            return Scan(error=str(exc))
        dists = installed(site)
        deps = resolve(roots, dists, transitive=opts.transitive)
        ignored = {name.lower().replace("_", "-") for name in opts.ignore}
        deps = [d for d in deps if d.name not in ignored]
        if deps and all(d.dist is None for d in deps):
            where = site or "assay's own environment"
            return Scan(not_evaluated=f"none of the dependencies is installed in {where}")
        findings = [f for d in deps if (f := _finding(d, opts)) is not None]
        return Scan(findings=findings, metrics={"dependencies": float(len(deps))})


def _environment(root: Path, option: str | None) -> Path | None:
    if option is not None:
        return (root / option).resolve()
    venv = root / ".venv"
    return venv if venv.is_dir() else None


def _finding(dep: Dependency, opts: LicenceOptions) -> Finding | None:
    via = " -> ".join(dep.chain)
    if dep.dist is None:
        return _make(dep, "dependency-missing", "medium", f"{via}: not installed; cannot check")
    licence = licence_of(dep.dist.metadata)
    label = f"{dep.dist.name} {dep.dist.version}"
    if licence is None:
        return _make(dep, "licence-unknown", opts.unknown, f"{label} ({via}): no licence found")
    try:
        verdict = judge(licence, allow=opts.allow, deny=opts.deny)
    except ValueError as exc:
        return _make(dep, "licence-unknown", opts.unknown, f"{label} ({via}): {exc}")
    if verdict == "denied":
        return _make(dep, "licence-denied", "high", f"{label} ({via}) is {licence}: denied")
    if verdict == "not-allowed":
        msg = f"{label} ({via}) is {licence}: not in the allow list"
        return _make(dep, "licence-not-allowed", "medium", msg)
    return None


def _make(dep: Dependency, rule: str, severity: SeverityName, message: str) -> Finding:
    return Finding(
        gate="licence-policy",
        rule_id=rule,
        severity=severity,
        file=dep.root.file,
        line=dep.root.line,
        message=message,
        fingerprint=fingerprint(rule, dep.root.file, dep.name),
    )

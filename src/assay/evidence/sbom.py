"""A CycloneDX 1.6 SBOM of the generated service.

When the workspace holds assay's hashed lock (``requirements.txt`` starting with
`assay.deps.lock.LOCK_HEADER`), the SBOM lists every resolved component, direct and transitive,
with its exact version, purl, SHA-256 hashes (one per locked artifact), its licence when the
run's installed folder is there to read it from, and the dependency graph (the design's direct
dependencies under the service; each other component under the components that need it).
Without a lock it lists the dependencies ``pyproject.toml`` declares, as declared (a range has
no version). ``metadata.tools`` names assay either way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from assay import __version__
from assay.deps.environment import installed_for, licences
from assay.deps.lock import LOCK_FILE, LOCK_HEADER, Lock, parse_lock
from assay.errors import UserError

__all__ = ["workspace_sbom"]


def _pinned(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return specs[0].version
    return None


def _project(pyproject: Path) -> dict[str, object]:
    if not pyproject.is_file():
        return {}
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{pyproject}: not valid TOML ({exc})") from None
    return project if isinstance(project, dict) else {}


def _declared(project: Mapping[str, object], pyproject: Path) -> list[Requirement]:
    raw = project.get("dependencies", [])
    out = []
    for line in raw if isinstance(raw, list) else []:
        try:
            out.append(Requirement(str(line)))
        except InvalidRequirement as exc:
            raise UserError(f"{pyproject}: bad dependency {line!r} ({exc})") from None
    return out


def _lock(workspace: Path) -> Lock | None:
    """The hashed lock assay wrote into the workspace, if it holds one (a hand-written
    requirements.txt is not a lock: it says nothing of hashes or transitive components)."""
    path = workspace / LOCK_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return parse_lock(text.removeprefix(LOCK_HEADER)) if text.startswith(LOCK_HEADER) else None


def _tool() -> Component:
    return Component(
        type=ComponentType.APPLICATION, name="assay", version=__version__,
        bom_ref=f"tool:assay@{__version__}",
        purl=PackageURL(type="pypi", name="assay", version=__version__),
    )  # fmt: skip


def workspace_sbom(workspace: Path, *, fallback_name: str) -> str:
    """CycloneDX JSON for the project in `workspace`: the service and its dependencies."""
    pyproject = workspace / "pyproject.toml"
    project = _project(pyproject)
    declared = _declared(project, pyproject)
    name = str(project.get("name") or fallback_name)
    version = str(project.get("version") or "0")
    root = Component(
        type=ComponentType.APPLICATION, name=name, version=version, bom_ref=f"app:{name}",
        purl=PackageURL(type="pypi", name=canonicalize_name(name), version=version),
    )  # fmt: skip
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(_tool())
    lock = _lock(workspace)
    if lock is not None:
        _add_locked(bom, root, lock, {canonicalize_name(r.name) for r in declared}, workspace)
    else:
        _add_declared(bom, root, declared)
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _add_locked(bom: Bom, root: Component, lock: Lock, declared: set[str], workspace: Path) -> None:
    """Every locked component, with hashes and licences, and who needs whom."""
    site = installed_for(workspace)
    licence = {c.name: c.expression for c in licences(site) if c.spdx} if site else {}
    by_name: dict[str, Component] = {}
    for p in lock.packages:
        purl = PackageURL(type="pypi", name=p.name, version=p.version)
        by_name[p.name] = Component(
            type=ComponentType.LIBRARY, name=p.name, version=p.version, bom_ref=purl.to_string(),
            purl=purl, hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h) for h in p.hashes],
            licenses=[LicenseExpression(licence[p.name])] if p.name in licence else [],
        )  # fmt: skip
        bom.components.add(by_name[p.name])
    # Direct: what the design declared, or what no other component pulled in (uv's "-r -").
    direct = [by_name[p.name] for p in lock.packages if p.name in declared or not p.required_by]
    bom.register_dependency(root, direct)
    needs: dict[str, list[Component]] = {p.name: [] for p in lock.packages}
    for p in lock.packages:
        for parent in p.required_by:
            if parent in needs:
                needs[parent].append(by_name[p.name])
    for p in lock.packages:
        bom.register_dependency(by_name[p.name], needs[p.name])


def _add_declared(bom: Bom, root: Component, declared: list[Requirement]) -> None:
    """The declared dependencies; an unpinned one has its range in the description, no version."""
    deps = []
    for req in declared:
        pkg = canonicalize_name(req.name)
        pinned = _pinned(req)
        component = Component(
            type=ComponentType.LIBRARY, name=pkg, version=pinned, bom_ref=f"pypi:{pkg}",
            purl=PackageURL(type="pypi", name=pkg, version=pinned),
            description=None if pinned else f"declared as {req}",
        )  # fmt: skip
        bom.components.add(component)
        deps.append(component)
    bom.register_dependency(root, deps)
    for dep in deps:
        bom.register_dependency(dep, [])

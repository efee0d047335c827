"""A CycloneDX 1.6 SBOM of the generated service, from its pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from assay.errors import UserError

__all__ = ["workspace_sbom"]


def _pinned(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "==="):
        return specs[0].version
    return None


def workspace_sbom(workspace: Path, *, fallback_name: str) -> str:
    """CycloneDX JSON for the project in `workspace`: the service and its declared dependencies.

    Unpinned dependencies are listed with their version range in the description and no version.
    """
    project: dict[str, object] = {}
    pyproject = workspace / "pyproject.toml"
    if pyproject.is_file():
        try:
            project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{pyproject}: not valid TOML ({exc})") from None
    name = str(project.get("name") or fallback_name)
    version = str(project.get("version") or "0")
    root = Component(
        type=ComponentType.APPLICATION, name=name, version=version, bom_ref=f"app:{name}",
        purl=PackageURL(type="pypi", name=canonicalize_name(name), version=version),
    )  # fmt: skip
    bom = Bom()
    bom.metadata.component = root
    deps = []
    raw = project.get("dependencies", [])
    for line in raw if isinstance(raw, list) else []:
        try:
            req = Requirement(str(line))
        except InvalidRequirement as exc:
            raise UserError(f"{pyproject}: bad dependency {line!r} ({exc})") from None
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
    return JsonV1Dot6(bom).output_as_string(indent=2)

"""The project's declared dependencies, followed through installed metadata to the full closure."""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["Declared", "Dependency", "declared", "installed", "resolve"]


@dataclass(frozen=True, slots=True)
class Declared:
    """A requirement the project states, and where."""

    requirement: Requirement
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Dependency:
    """A distribution the project needs, with the chain that brings it in."""

    name: str
    chain: tuple[str, ...]
    """From the declared requirement down to this one, e.g. ``("fastapi", "starlette")``."""
    root: Declared
    dist: md.Distribution | None
    """None when it is not installed where the gate looks."""


_REQUIREMENTS = re.compile(r"(^|/)requirements[^/]*\.txt$")


def declared(root: Path, files: Iterable[str]) -> list[Declared]:
    """Requirements from ``pyproject.toml`` ``[project].dependencies`` and requirements files."""
    out: list[Declared] = []
    for rel in files:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if rel == "pyproject.toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{rel}: not valid TOML: {exc}") from None
            entries = data.get("project", {}).get("dependencies", [])
        else:
            entries = [ln.split("#")[0].strip() for ln in lines]
            entries = [e for e in entries if e and not e.startswith("-")]
        for entry in entries:
            try:
                req = Requirement(entry)
            except InvalidRequirement as exc:
                raise ValueError(f"{rel}: bad requirement {entry!r}: {exc}") from None
            line = next((i for i, ln in enumerate(lines, 1) if entry in ln), 0)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                out.append(Declared(req, rel, line))
    return out


def requirement_files(all_files: Iterable[str]) -> list[str]:
    """The files `declared` reads: pyproject.toml first, then requirements*.txt."""
    files = sorted(f for f in all_files if _REQUIREMENTS.search(f))
    return ["pyproject.toml", *files] if "pyproject.toml" in all_files else files


def installed(site: Path | None) -> dict[str, md.Distribution]:
    """Distributions in `site` (a site-packages or venv folder), or in this interpreter's path."""
    if site is None:
        search = sys.path
    else:
        found = sorted(site.glob("lib/python*/site-packages"))
        search = [str(found[0] if found else site)]
    dists: dict[str, md.Distribution] = {}
    for dist in md.distributions(path=search):
        name = (dist.metadata.get_all("Name") or [""])[0]
        if name:
            dists.setdefault(canonicalize_name(name), dist)
    return dists


def resolve(
    roots: list[Declared], dists: dict[str, md.Distribution], *, transitive: bool
) -> list[Dependency]:
    """Breadth-first closure of `roots` over `dists`, each distribution once (shortest chain)."""
    seen: set[str] = set()
    queue: list[tuple[Requirement, tuple[str, ...], Declared]] = [
        (d.requirement, (d.requirement.name,), d) for d in roots
    ]
    out: list[Dependency] = []
    while queue:
        req, chain, root = queue.pop(0)
        name = str(canonicalize_name(req.name))
        if name in seen:
            continue
        seen.add(name)
        dist = dists.get(name)
        out.append(Dependency(name, chain, root, dist))
        if dist is None or not transitive:
            continue
        for spec in dist.requires or []:
            sub = Requirement(spec)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                queue.append((sub, (*chain, sub.name), root))
    return out

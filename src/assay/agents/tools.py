"""Read-only tools over the workspace: list, read and search files, confined to the workspace."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic_ai import RunContext

from assay.messages import PinnedDependency

__all__ = [
    "DependencyCheck",
    "WorkspaceDeps",
    "list_files",
    "read_file",
    "search_files",
    "workspace_files",
]

_HIDDEN = {".git", ".assay", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
_MAX_READ = 60_000
_MAX_HITS = 200


DependencyCheck = Callable[[Sequence[PinnedDependency]], Awaitable[str | None]]
"""Why a design's dependencies cannot be used (policy, resolution, licence, vulnerability), or
None (`assay.deps.prepare.DependencyGate.check`)."""


@dataclass(frozen=True, slots=True)
class WorkspaceDeps:
    """What a role's tools may look at, and what checks the architect's design."""

    root: Path
    check_dependencies: DependencyCheck | None = None


def workspace_files(root: Path) -> list[str]:
    """Every regular file under `root`, relative, sorted, skipping caches and VCS folders."""
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _HIDDEN for part in rel.parts) or path.is_symlink() or not path.is_file():
            continue
        out.append(rel.as_posix())
    return out


def _confined(root: Path, rel: str) -> Path | None:
    target = (root / rel).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        return None
    return target


def list_files(ctx: RunContext[WorkspaceDeps], prefix: str = "") -> str:
    """List workspace files whose path starts with `prefix` (all files when empty)."""
    files = [f for f in workspace_files(ctx.deps.root) if f.startswith(prefix)]
    return "\n".join(files) if files else "(no files)"


def read_file(ctx: RunContext[WorkspaceDeps], path: str) -> str:
    """Return the content of one workspace file."""
    target = _confined(ctx.deps.root, path)
    if target is None:
        return f"error: {path} is outside the workspace"
    if not target.is_file():
        return f"error: no such file: {path}"
    text = target.read_text(encoding="utf-8", errors="replace")
    return text if len(text) <= _MAX_READ else text[:_MAX_READ] + "\n... (truncated)"


def search_files(ctx: RunContext[WorkspaceDeps], pattern: str) -> str:
    """Search workspace files for a regular expression; returns ``path:line: text`` hits."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        return f"error: bad pattern: {exc}"
    hits = []
    for rel in workspace_files(ctx.deps.root):
        text = (ctx.deps.root / rel).read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if rx.search(line):
                hits.append(f"{rel}:{n}: {line.strip()[:200]}")
                if len(hits) >= _MAX_HITS:
                    return "\n".join([*hits, "... (more hits not shown)"])
    return "\n".join(hits) if hits else "(no match)"

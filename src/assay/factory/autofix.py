"""Fixes that need no model: ruff's safe fixes and ruff format on the files a role just wrote.

They run after every write by the tester or the coder and before the gates, with the generated
project's own ruff configuration (ruff finds the workspace's ``pyproject.toml`` itself, as the
ruff gate and the project's CI do), so no model is ever asked to fix an import order or a
formatting detail. ``ruff check --fix`` runs first (its fixes, e.g. sorted imports, may need
re-formatting), then ``ruff format``. Only safe fixes are applied, never ``--unsafe-fixes``: a
safe fix keeps the code's meaning.

What ruff cannot fix is left for the gates to report. A file ruff cannot parse is left as it is
(ruff's message is kept in `Autofix.problems`): the ruff gate reports the syntax error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.gates._tool import find_tool, run_tool, tool_version

__all__ = ["Autofix", "autofix", "python_files"]

_PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True, slots=True)
class Autofix:
    """What the fixers did to a set of files."""

    files: list[str]
    """The Python files the fixers ran on (workspace-relative, sorted)."""
    changed: list[str]
    """Those whose content the fixers changed."""
    tools: dict[str, str] = field(default_factory=dict)
    """Tool -> version, e.g. ``{"ruff": "0.17.6"}``."""
    commands: list[list[str]] = field(default_factory=list)
    """The command lines run (tool name first, then arguments; the files are not repeated)."""
    problems: list[str] = field(default_factory=list)
    """What a fixer could not do, in its own words (e.g. a file it cannot parse)."""

    def record(self) -> dict[str, Any]:
        """The ledger payload's ``autofix`` entry."""
        return {
            "files": self.files, "changed": self.changed, "tools": self.tools,
            "commands": self.commands, "problems": self.problems,
        }  # fmt: skip


def python_files(root: Path, paths: Iterable[str]) -> list[str]:
    """The Python files among `paths` that exist under `root` as regular files (sorted, unique).

    A deleted file, a folder or a path that resolves outside `root` is dropped.
    """
    base = root.resolve()
    kept: set[str] = set()
    for rel in paths:
        if not rel.endswith(_PYTHON_SUFFIXES):
            continue
        path = (root / rel).resolve()
        if path.is_relative_to(base) and path.is_file() and not (root / rel).is_symlink():
            kept.add(path.relative_to(base).as_posix())
    return sorted(kept)


async def autofix(root: Path, paths: Iterable[str]) -> Autofix:
    """Run ``ruff check --fix`` then ``ruff format`` on the Python files among `paths`."""
    files = python_files(root, paths)
    if not files:
        return Autofix(files=[], changed=[])
    ruff = find_tool("ruff")
    before = {f: _digest(root / f) for f in files}
    # --no-cache: nothing is written into the workspace but the fixes themselves.
    commands = [
        ["ruff", "check", "--fix", "--exit-zero", "--no-cache"],
        ["ruff", "format", "--no-cache"],
    ]
    problems: list[str] = []
    for command in commands:
        proc = await run_tool([ruff, *command[1:], "--", *files], cwd=root)
        if proc.exit_code != 0:  # e.g. a file ruff cannot parse; the other files are fixed
            problems.append(proc.describe_failure())
    changed = [f for f in files if _digest(root / f) != before[f]]
    return Autofix(
        files=files, changed=changed, tools={"ruff": tool_version("ruff")}, commands=commands,
        problems=problems,
    )  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

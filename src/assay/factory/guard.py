"""Segregation of duties for edits: the coder may not touch protected files or leave the workspace.

Rejected changes are dropped from the changeset (the rest is applied) and reported so the loop can
record each one in the ledger and tell the coder.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Collection
from pathlib import Path, PurePosixPath

from assay.factory.feedback import Rejection
from assay.messages import Changeset

__all__ = ["guard_changeset", "path_problem"]


def path_problem(root: Path, rel: str) -> str | None:
    """Why `rel` may not be written inside `root`, or None when it may."""
    if not rel or "\\" in rel or "\0" in rel:
        return "not a plain workspace-relative path"
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~"):
        return "absolute path: writes outside the workspace are not allowed"
    if ".." in pure.parts or posixpath.normpath(rel).startswith(".."):
        return "'..' in path: writes outside the workspace are not allowed"
    if pure.parts and pure.parts[0] in (".git", ".assay"):
        return f"'{pure.parts[0]}' is managed by assay"
    base = root.resolve()
    target = (root / rel).resolve()
    if target != base and base not in target.parents:
        return "resolves outside the workspace (symlink)"
    return None


def _protected(rel: str, protected: Collection[str]) -> bool:
    norm = posixpath.normpath(rel)
    return any(norm == p or fnmatch.fnmatch(norm, p) for p in protected)


def guard_changeset(
    root: Path, changeset: Changeset, protected: Collection[str]
) -> tuple[Changeset, list[Rejection]]:
    """The changes that may be applied, and a rejection for each one that may not."""
    rejections: list[Rejection] = []

    def allowed(rel: str) -> bool:
        problem = path_problem(root, rel)
        if problem is None and _protected(rel, protected):
            problem = "protected file (tests and project configuration belong to other roles)"
        if problem is not None:
            rejections.append(Rejection(rel, problem))
        return problem is None

    kept = changeset.model_copy(
        update={
            "files": [f for f in changeset.files if allowed(f.path)],
            "deletions": [d for d in changeset.deletions if allowed(d)],
        }
    )
    return kept, rejections

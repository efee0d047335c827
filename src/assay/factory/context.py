"""What the roles are sent beyond their messages: the run's world, and the coder's files.

- `run_world`: the environment every role is told (`assay.agents.world`), built from the run's
  settings, its gates and the scaffold the design gets. Before the design exists, the scaffold is
  rendered from a stand-in design whose package is ``<package>`` (`preview_design`); the
  architect's tools read that preview, written into the still empty workspace (`write_preview`),
  which the real scaffold replaces once the design is in.
- `select_context`: the files the coder is sent in full; in patch mode only those that matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.agents.tools import workspace_files
from assay.agents.world import World
from assay.config import Settings
from assay.factory.scaffold import PROTECTED_SCAFFOLD, scaffold_files, write_scaffold
from assay.gates.base import Gate
from assay.messages import Design, Feedback, Spec

__all__ = ["PREVIEW_PACKAGE", "preview_design", "run_world", "select_context", "write_preview"]

PREVIEW_PACKAGE = "<package>"
"""Stands for the package's name in the scaffold the architect sees before it has chosen one."""

_MAX_FILE = 40_000


def _read(root: Path, rel: str) -> str | None:
    path = root / rel
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    return text if len(text) <= _MAX_FILE else text[:_MAX_FILE] + "\n... (truncated)\n"


def select_context(
    root: Path,
    *,
    patch_mode: bool,
    feedback: Feedback | None,
    design: Design,
    tests: Sequence[str],
) -> tuple[list[str], dict[str, str]]:
    """The workspace listing and the files sent in full.

    Patch mode: before any feedback, the tests and the design's file plan; afterwards only the
    files the feedback names. Whole mode: every file.
    """
    listing = workspace_files(root)
    if not patch_mode:
        wanted: Sequence[str] = listing
    elif feedback is None:
        wanted = [*tests, *design.file_plan]
    else:
        wanted = feedback.files
    context = {}
    for rel in dict.fromkeys(wanted):
        text = _read(root, rel)
        if text is not None:
            context[rel] = text
    return listing, context


def preview_design(spec: Spec) -> Design:
    """A stand-in design: what the scaffold looks like whatever the architect decides."""
    return Design(summary=spec.title or spec.name, package=PREVIEW_PACKAGE)


def write_preview(root: Path, spec: Spec) -> list[str]:
    """The scaffold rendered from `preview_design`, for the architect's read-only tools."""
    root.mkdir(parents=True, exist_ok=True)
    return write_scaffold(root, spec, preview_design(spec))


def run_world(
    settings: Settings,
    gates: Sequence[Gate],
    spec: Spec,
    design: Design | None,
    installed: Sequence[str] = (),
) -> World:
    """The world of this run for `design` (None: before the design, with the preview scaffold);
    `installed`: the components locked for it."""
    files = scaffold_files(spec, design if design is not None else preview_design(spec))
    return World.build(
        settings, gates, scaffold=files, protected=PROTECTED_SCAFFOLD, installed=installed
    )

"""What the coder is sent in full: in patch mode only the files that matter, else everything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.agents.tools import workspace_files
from assay.messages import Design, Feedback

__all__ = ["select_context"]

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

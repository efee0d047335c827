"""assay plugin: a report section listing the generated project's git history."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from assay.plugins import ReportContext, ReportSection, hookimpl

__all__ = ["ASSAY_PLUGIN_API", "__version__", "assay_report_sections", "history_section"]

__version__ = "0.1.0"

#: The assay plugin API this plugin is written against.
ASSAY_PLUGIN_API = 1

#: Rows shown in the table; the JSON data always holds every commit.
MAX_ROWS = 200

_FIELDS = ("commit", "author", "email", "date", "subject")


@hookimpl
def assay_report_sections(context: ReportContext) -> Sequence[ReportSection]:
    """The change-history section for the project in `context`."""
    return [history_section(context.root)]


def history_section(root: Path) -> ReportSection:
    """Commits of the git work tree at `root`, newest first."""
    title = "Change history"
    git = shutil.which("git")
    if git is None:
        return ReportSection(key="git-history", title=title, summary="git is not installed.")
    proc = subprocess.run(
        [git, "-C", str(root), "log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git log failed"
        return ReportSection(
            key="git-history", title=title, summary=f"No git history for {root}: {reason}"
        )
    lines = proc.stdout.splitlines()
    commits = [dict(zip(_FIELDS, line.split("\x1f", 4), strict=True)) for line in lines]
    authors = sorted({c["author"] for c in commits})
    summary = f"{len(commits)} commit(s) by {len(authors)} author(s)"
    if commits:
        summary += f", {commits[-1]['date']} to {commits[0]['date']}; head {commits[0]['commit']}"
    return ReportSection(
        key="git-history",
        title=title,
        summary=summary + ".",
        columns=["commit", "author", "date", "subject"],
        rows=[[c["commit"][:12], c["author"], c["date"], c["subject"]] for c in commits[:MAX_ROWS]],
        data={"commits": commits, "authors": authors},
    )

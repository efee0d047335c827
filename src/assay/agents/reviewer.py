"""The security reviewer: a changeset and the SAST findings in, a `SecurityReview` verdict out.

Its prompt carries the changed files as they now are, numbered (``   12 | code``) so that the
``line`` of a finding means something, and the analysers' findings grouped by rule with a count.
Low-severity findings in tests (bandit's B101 "assert used" on every assert) are left out, and a
tool that found nothing says so: one line per tool, never a wall of identical lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.gates.base import Finding, GateReport, GateResult, Severity
from assay.messages import Changeset, Design, SecurityReview

__all__ = [
    "SAST_GATES",
    "number_lines",
    "render_sast",
    "reviewer_agent",
    "reviewer_prompt_parts",
]

SAST_GATES = ("bandit", "semgrep", "secrets")
"""The static analysers whose results the reviewer reads, in the order it reads them."""

_MAX_FILE = 40_000
_CONTEXT = 8
"""Unchanged lines shown around each change to a file the reviewer saw before."""
_DIFF_SHARE = 0.6
"""A changed file is shown as its hunks only when they are under this share of its size."""
"""Characters of one changed file sent in full; the reviewer reads the rest with its tools."""
_MAX_PLACES = 5
"""Locations listed for one rule; the count says how many there are."""


def reviewer_agent(model: Model) -> Agent[WorkspaceDeps, SecurityReview]:
    """The security reviewer agent; it may read the workspace."""
    return make_agent("security-reviewer", model, SecurityReview, tools=True)


def _test_file(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return parts[0] == "tests" or name.startswith("test_") or name.endswith("_test.py")


def _noise(f: Finding) -> bool:
    """A waived finding, or a low (or info) one in a test: not worth the reviewer's attention."""
    return f.waived_by is not None or (f.level <= Severity.LOW and _test_file(f.file))


def _grouped(findings: Iterable[Finding]) -> list[str]:
    """One line per (rule, severity), most severe first, with a count and a few places."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.rule_id, f.severity), []).append(f)
    lines = []
    for (rule, severity), group in sorted(
        groups.items(), key=lambda kv: (-Severity.parse(kv[0][1]), kv[0][0])
    ):
        places = [f"{f.file}:{f.line}" if f.line else f.file or "(project)" for f in group]
        shown = ", ".join(places[:_MAX_PLACES])
        if len(places) > _MAX_PLACES:
            shown += f", and {len(places) - _MAX_PLACES} more"
        times = f" x{len(group)}" if len(group) > 1 else ""
        lines.append(f"- {rule} [{severity}]{times}: {group[0].message} ({shown})")
    return lines


def _tool_section(name: str, result: GateResult | None) -> str:
    if result is None:
        return f"{name}: not run in this run"
    kept = [f for f in result.findings if not _noise(f)]
    dropped = len(result.findings) - len(kept)
    left_out = f" ({dropped} low-severity finding(s) in tests left out)" if dropped else ""
    if result.status in ("error", "not-evaluated", "not-applicable") and not result.findings:
        return f"{name}: {result.status}: {result.message or 'no detail'}"
    if not kept:
        return f"{name}: none{left_out}"
    return "\n".join([f"{name}: {len(kept)} finding(s){left_out}", *_grouped(kept)])


def render_sast(report: GateReport) -> str:
    """The SAST results of `report`, one section per analyser, deduplicated by rule."""
    by_gate = {r.gate: r for r in report.results}
    return "\n".join(_tool_section(name, by_gate.get(name)) for name in SAST_GATES)


def number_lines(text: str) -> str:
    """`text` with each line prefixed by its number: ``   12 | code``."""
    return "\n".join(f"{n:>5} | {line}" for n, line in enumerate(text.splitlines(), 1))


def _hunks(before: str, after: str) -> str:
    """The change from `before` to `after` as unified-diff hunks with `_CONTEXT` lines around
    each, every kept line numbered as in `after` (removed lines as ``-``)."""
    old, new = before.splitlines(), after.splitlines()
    out = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for group in matcher.get_grouped_opcodes(_CONTEXT):
        first, last = group[0], group[-1]
        out.append(f"@@ lines {first[3] + 1}-{last[4]} of {len(new)} @@")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [f"{j + 1:>5} | {new[j]}" for j in range(j1, j2)]
                continue
            out += [f"    - | {line}" for line in old[i1:i2]]
            out += [f"{j + 1:>5} + {new[j]}" for j in range(j1, j2)]
    return "\n".join(out)


def _changed_file(root: Path, path: str, diff: str | None, before: str | None = None) -> str:
    target = root / path
    if target.is_symlink() or not target.is_file():
        return f'<file path="{path}">\n(not in the workspace: the change was not applied)\n</file>'
    text = target.read_text(encoding="utf-8", errors="replace")
    if before is not None and before != text:
        hunks = _hunks(before, text)
        if len(hunks) < _DIFF_SHARE * len(text):  # a small change in a big file: only the change
            return (
                f'<file path="{path}" shown="the changed lines with {_CONTEXT} lines of context; '
                f'read_file for the rest">\n{hunks}\n</file>'
            )
    cut = "" if len(text) <= _MAX_FILE else "\n... (truncated; read the rest with read_file)"
    body = number_lines(text[:_MAX_FILE]) + cut
    patch = f"\n<diff>\n{diff}</diff>" if diff else ""
    return f'<file path="{path}">\n{body}\n</file>{patch}'


def reviewer_prompt_parts(
    design: Design,
    changeset: Changeset,
    report: GateReport,
    *,
    root: Path,
    world: World | None = None,
    before: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The reviewer's user prompt as (stable, changing) for `assay.agents.base.cached_prompt`:
    its environment and the threat model (fixed for the run), then the rationale, the changed
    files as now in `root`, numbered, and the SAST results.
    A file that existed before the change (`before`: path -> its text then) and changed in a
    small part is shown as its changed lines with context, not in full."""
    threats = "\n".join(f"- {t}" for t in design.threat_model) or "(none listed)"
    was = before or {}
    changed = "\n".join(
        _changed_file(root, f.path, f.diff, was.get(f.path)) for f in changeset.files
    )
    deleted = "".join(f"\ndeleted: {p}" for p in changeset.deletions)
    head = f"{world.render('security-reviewer')}\n\n" if world is not None else ""
    return f"{head}<threat-model>\n{threats}\n</threat-model>\n\n", (
        f"Review this changeset for security.\n\n<rationale>\n{changeset.rationale}\n</rationale>"
        f"\n\n<changes>\n{changed or '(no files written)'}{deleted}\n</changes>\n\n"
        f"<sast-findings>\n{render_sast(report)}\n</sast-findings>\n"
    )

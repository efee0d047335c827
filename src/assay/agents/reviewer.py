"""The security reviewer: a changeset and the SAST findings in, a `SecurityReview` verdict out."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.messages import Changeset, Design, Finding, SecurityReview

__all__ = ["SAST_GATES", "reviewer_agent", "reviewer_prompt"]

SAST_GATES = frozenset({"bandit", "semgrep", "secrets"})


def reviewer_agent(model: Model) -> Agent[WorkspaceDeps, SecurityReview]:
    """The security reviewer agent; it may read the workspace."""
    return make_agent("security-reviewer", model, SecurityReview, tools=True)


def reviewer_prompt(design: Design, changeset: Changeset, findings: list[Finding]) -> str:
    """The reviewer's user prompt: threat model, the changed paths and diffs, SAST findings."""
    changed = "\n".join(
        f"--- {f.path}\n{f.content if f.content is not None else f.diff}" for f in changeset.files
    )
    sast = "\n".join(
        f"{f.gate} {f.rule_id} [{f.severity}] {f.file}:{f.line}: {f.message}"
        for f in findings
        if f.gate in SAST_GATES and f.waived_by is None
    )
    threats = "\n".join(f"- {t}" for t in design.threat_model) or "(none listed)"
    return (
        f"Review this changeset for security.\n\n<threat-model>\n{threats}\n</threat-model>\n\n"
        f"<rationale>\n{changeset.rationale}\n</rationale>\n\n<changes>\n{changed}\n</changes>\n\n"
        f"<sast-findings>\n{sast or '(none)'}\n</sast-findings>\n"
    )

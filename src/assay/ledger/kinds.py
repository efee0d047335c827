"""Event kinds and the payload keys the evidence report reads.

The report is lenient (a missing key shows as blank), but these are the shapes it understands:

- ``run.started``: ``spec_digest``, ``spec_blob``, ``spec_title``, ``settings`` (dict; may hold
  ``approval.required``), ``leak_level``, ``user`` (OS user who started the run), ``models``
  (role -> model id), ``assay_version``.
- ``message``: an Envelope dump: ``id``, ``iteration``, ``sender`` (role), ``model``,
  ``parent_ids``, ``content_hash``, ``message`` (the typed message with its ``kind``).
- ``model.request``: ``role``, ``model``, ``iteration``, ``prompt_digest``, ``prompt_blob``.
- ``model.response``: ``role``, ``model``, ``iteration``, ``tokens_in``, ``tokens_out``,
  ``cost_usd``, ``response_blob``.
- ``gate.result``: ``iteration`` and either ``report`` (a `GateReport` dump) or ``result`` (one
  `GateResult` dump).
- ``security.review``: ``iteration``, ``verdict``, ``findings`` (list of dicts), ``summary``.
- ``scenario.result``: ``iteration``, ``score`` (0-100), ``scenarios``: list of ``id``, ``passed``,
  ``score``, ``detail``.
- ``loop.decision``: ``iteration``, ``decision`` (continue / converged / stalled / oscillating /
  budget / max-iterations), ``reason``, ``scores`` (name -> number).
- ``edit.rejected``: ``iteration``, ``path``, ``reason``.
- ``workspace.commit``: ``iteration``, ``commit``, ``message``; an autofix step (``tests/autofix``,
  ``iter-N/autofix``) adds ``role`` and ``autofix``: ``files``, ``changed``, ``tools`` (name ->
  version), ``commands``, ``problems``.
- ``approval``: written by `assay approve`: ``approver``, ``reason``, ``os_user``, ``head``,
  ``signature``.
- ``run.finished``: ``outcome`` (converged / stalled / ...), ``iterations``, ``best_iteration``,
  ``workspace_commit``.
- ``checkpoint``: written by `Ledger.checkpoint`: ``seq``, ``root``, ``signature``.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPROVAL",
    "CHECKPOINT",
    "DEPENDENCIES_LOCKED",
    "DEPENDENCIES_REFUSED",
    "EDIT_REJECTED",
    "GATE_RESULT",
    "LOOP_DECISION",
    "MESSAGE",
    "MODEL_REQUEST",
    "MODEL_RESPONSE",
    "REPORT_SEAL",
    "RUN_FINISHED",
    "RUN_STARTED",
    "SCENARIO_RESULT",
    "SECURITY_REVIEW",
    "WORKSPACE_COMMIT",
]

RUN_STARTED: Final = "run.started"
MESSAGE: Final = "message"
MODEL_REQUEST: Final = "model.request"
MODEL_RESPONSE: Final = "model.response"
GATE_RESULT: Final = "gate.result"
SECURITY_REVIEW: Final = "security.review"
SCENARIO_RESULT: Final = "scenario.result"
LOOP_DECISION: Final = "loop.decision"
EDIT_REJECTED: Final = "edit.rejected"
WORKSPACE_COMMIT: Final = "workspace.commit"
APPROVAL: Final = "approval"
RUN_FINISHED: Final = "run.finished"
DEPENDENCIES_LOCKED: Final = "dependencies.locked"
"""A design's dependencies, accepted: the lock (``lock_blob``), every component, licences, audit."""
DEPENDENCIES_REFUSED: Final = "dependencies.refused"
"""A design's dependencies went back to the architect: what it asked for, and why not."""
CHECKPOINT: Final = "checkpoint"
REPORT_SEAL: Final = "assay report"
"""A checkpoint's ``sealed_by`` when `assay report` signed it over a run that never sealed
those events itself (crashed, killed or still running)."""

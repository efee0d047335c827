"""The names of the event kinds assay writes.

Each kind's payload is a pydantic model in `assay.factory.events` (``run.started`` ->
`RunStarted`, ``gate.result`` -> `GatesRan`, ...): the loop builds them, the report, `assay runs`
and the shortfall line read them back through `assay.factory.events.read`. They live above the
ledger because payloads hold the factory's own types; the ledger itself only chains and seals
JSON, whatever its shape.
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
    "PREFLIGHT_RESULT",
    "REPORT_SEAL",
    "RUN_FINISHED",
    "RUN_STARTED",
    "RUN_TRACED",
    "SCENARIO_REGRESSION",
    "SCENARIO_RESULT",
    "SECURITY_REVIEW",
    "TIER_ADVANCED",
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
RUN_TRACED: Final = "run.traced"
"""The OpenTelemetry trace of one execution of the run (a resume is another): its trace id."""
TIER_ADVANCED: Final = "tier.advanced"
"""A stratified run moved on: the scenarios of tiers <= N passed, tier N+1 is run from now on."""
SCENARIO_REGRESSION: Final = "scenario.regression"
"""Held-out scenarios that passed in an earlier iteration fail now (``--block-on-regression``)."""
PREFLIGHT_RESULT: Final = "preflight.result"
"""The spec's preflight before the architect: deterministic findings, the clarity review, the
verdict against the threshold."""
CHECKPOINT: Final = "checkpoint"
REPORT_SEAL: Final = "assay report"
"""A checkpoint's ``sealed_by`` when `assay report` signed it over a run that never sealed
those events itself (crashed, killed or still running)."""

"""Segregation of duties: who generated a run, who may approve it, and whether it is releasable."""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from assay.errors import CorruptLedgerError, UserError
from assay.ledger import Event, Ledger, Signer, canonical, verify_run, verify_signature
from assay.ledger import kinds as k

__all__ = [
    "approval_statement",
    "approve_run",
    "check_approver",
    "generating_identities",
    "valid_approvals",
]

GENERATING_ROLES = ("architect", "tester", "coder", "security-reviewer", "judge", "factory")
"""Roles that produce or judge the change; none of them may approve it."""


def _norm(name: str) -> str:
    return " ".join(name.strip().casefold().split())


def generating_identities(events: Iterable[Event]) -> set[str]:
    """Normalised names of every role, model and OS user recorded as producing the change."""
    found = set(GENERATING_ROLES)
    for event in events:
        p = event.payload
        if event.kind == k.RUN_STARTED:
            found.update(_strings(p.get("user")))
            models = p.get("models")
            if isinstance(models, dict):
                found.update(_strings(*models.values()))
        elif event.kind == k.MESSAGE and p.get("sender") != "human":
            found.update(_strings(p.get("sender"), p.get("model")))
        elif event.kind in (k.MODEL_REQUEST, k.MODEL_RESPONSE):
            found.update(_strings(p.get("role"), p.get("model")))
    return {_norm(s) for s in found if s}


def _strings(*values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and v.strip()]


def check_approver(name: str, events: Iterable[Event]) -> str | None:
    """None when `name` may approve the run, else the reason they may not."""
    if not name.strip():
        return "the approver's name is empty"
    if _norm(name) in generating_identities(events):
        return f"'{name}' generated this change (a role, model or the user who started the run)"
    return None


def approval_statement(run_id: str, head: str, approver: str, reason: str) -> bytes:
    """The bytes an approval signs: the run, the ledger head approved, who and why."""
    return canonical(
        {
            "type": "assay.approval/v1",
            "run_id": run_id,
            "head": head,
            "approver": approver,
            "reason": reason,
        }
    )


def valid_approvals(events: list[Event]) -> tuple[list[Event], list[str]]:
    """Approval events that count, and why the others do not (signature or identity)."""
    good: list[Event] = []
    problems: list[str] = []
    generators = generating_identities(events)
    for event in events:
        if event.kind != k.APPROVAL:
            continue
        p = event.payload
        approver, reason = str(p.get("approver", "")), str(p.get("reason", ""))
        statement = approval_statement(event.run_id, str(p.get("head", "")), approver, reason)
        if p.get("head") != event.prev_hash:
            problems.append(f"event {event.seq}: approval does not name the head it follows")
        elif problem := verify_signature(statement, p.get("signature")):
            problems.append(f"event {event.seq}: approval signature: {problem}")
        elif _norm(approver) in generators:
            problems.append(f"event {event.seq}: '{approver}' generated the change")
        elif _norm(approver) in {_norm(str(e.payload.get("approver"))) for e in good}:
            problems.append(f"event {event.seq}: '{approver}' already approved")
        else:
            good.append(event)
    return good, problems


def approve_run(run_dir: Path, approver: str, reason: str, signer: Signer) -> Event:
    """Record a signed approval of the run's current head, then seal the ledger with a checkpoint.

    Refuses a run that does not verify (`CorruptLedgerError`, exit 1), and (`UserError`) one
    that has not finished or an approver who generated the change or has already approved it.
    """
    check = verify_run(run_dir)
    if not check.ok:
        raise CorruptLedgerError(
            f"{run_dir} does not verify, refusing to approve it: {check.problems[0]}"
        )
    if not reason.strip():
        raise UserError("an approval needs a reason (--reason)")
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
        if not any(e.kind == k.RUN_FINISHED for e in events):
            raise UserError(f"run {ledger.run_id} has not finished; approve it once it has")
        problem = check_approver(approver, events)
        if problem:
            raise UserError(f"{problem}; segregation of duties needs someone else to approve")
        if any(
            e.kind == k.APPROVAL and _norm(str(e.payload.get("approver", ""))) == _norm(approver)
            for e in events
        ):
            raise UserError(f"'{approver}' has already approved run {ledger.run_id}")
        head = events[-1].hash
        payload = {
            "approver": approver,
            "reason": reason,
            "os_user": _os_user(),
            "head": head,
            "signature": signer.sign(approval_statement(ledger.run_id, head, approver, reason)),
        }
        event = ledger.append(k.APPROVAL, payload)
        ledger.checkpoint(signer)
    return event


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""

"""Segregation of duties: who generated a run, who may approve it, and whether it is releasable.

An approval is bound to an identity, not to the name typed after ``--as``:

- the OS user (uid and name) that ran ``assay approve``, which must differ from the one that
  started the run;
- the key that signed it, which must be neither the factory's key (the one that sealed the run)
  nor a key an earlier approval used;
- the name, compared by its Unicode TR39 skeleton (NFKC, case folded, invisible characters
  dropped, look-alike letters mapped to Latin ones): a Cyrillic look-alike of ``alice`` is her.

``min_approvals`` counts approvals that share none of uid, key and name with one counted before.
When the project pins approver keys (``[tool.assay.approval] approvers``), an approval counts only
when its key is one pinned for its name. docs/evidence.md says what a local root can still do.
"""

from __future__ import annotations

import os
import pwd
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from confusable_homoglyphs import confusables

from assay.errors import CorruptLedgerError, UserError
from assay.ledger import Event, Ledger, Signer, canonical, verify_run, verify_signature
from assay.ledger import kinds as k
from assay.vocabulary import ROLES

__all__ = [
    "Approver",
    "approval_statement",
    "approve_run",
    "generating_identities",
    "name_skeleton",
    "valid_approvals",
]

GENERATING_ROLES = tuple(role for role in ROLES if role != "human")
"""Roles that produce or judge the change; none of them may approve it."""

STATEMENT_TYPE = "assay.approval/v2"


@cache
def _latin(char: str) -> str:
    """The Latin letter `char` is confusable with (Unicode's confusables data), else `char`."""
    found = confusables.is_confusable(char, greedy=True, preferred_aliases=["latin"]) or []
    for entry in found:
        for glyph in entry.get("homoglyphs", []):
            c = str(glyph.get("c", ""))
            if len(c) == 1 and c.isascii() and c.isalpha():
                return c.casefold()
    return char


def name_skeleton(name: str) -> str:
    """What a name looks like: equal skeletons are the same person to a reader of the report."""
    text = unicodedata.normalize("NFKC", name).casefold()
    kept = [c for c in text if unicodedata.category(c) not in ("Cc", "Cf")]
    mapped = "".join(c if c.isascii() else _latin(c) for c in kept)
    return " ".join(mapped.split())


@dataclass(frozen=True, slots=True)
class Approver:
    """Who approves: the name given, the OS account that ran the command, and their key."""

    name: str
    uid: int
    os_user: str
    key_id: str

    @classmethod
    def current(cls, name: str, signer: Signer) -> Approver:
        """The approver running this process."""
        return cls(name, os.getuid(), _os_user(), signer.key_id)


@dataclass(frozen=True, slots=True)
class _Run:
    """What an approval is checked against: who made the run, and what it concluded."""

    generators: set[str]
    starter_uid: int | None
    starter_user: str
    factory_keys: set[str]
    converged: bool
    pinned: dict[str, set[str]]


def generating_identities(events: Iterable[Event]) -> set[str]:
    """Skeletons of every role, model and OS user recorded as producing the change."""
    found: set[str] = set(GENERATING_ROLES)
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
    return {name_skeleton(s) for s in found if s}


def _strings(*values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and v.strip()]


def _run_facts(events: list[Event]) -> _Run:
    started = next((e.payload for e in events if e.kind == k.RUN_STARTED), {})
    uid = started.get("uid")
    factory_keys = {str(started["signing_key"])} if started.get("signing_key") else set()
    previous = ""
    for event in events:
        # Checkpoints the run wrote itself; one right after an approval is the approver's seal.
        if event.kind == k.CHECKPOINT and previous != k.APPROVAL:
            keyid = (event.payload.get("signature") or {}).get("keyid")
            if isinstance(keyid, str):
                factory_keys.add(keyid)
        if event.kind == k.RUN_FINISHED:
            break
        previous = event.kind
    finished = next((e.payload for e in events if e.kind == k.RUN_FINISHED), {})
    settings = started.get("settings") if isinstance(started.get("settings"), dict) else {}
    policy = settings.get("approval") if isinstance(settings, dict) else {}
    pins = policy.get("approvers") if isinstance(policy, dict) else {}
    return _Run(
        generators=generating_identities(events),
        starter_uid=uid if isinstance(uid, int) else None,
        starter_user=str(started.get("user", "")),
        factory_keys=factory_keys,
        converged=finished.get("outcome") == "converged",
        pinned={
            name_skeleton(str(n)): {str(i) for i in ids}
            for n, ids in (pins.items() if isinstance(pins, dict) else [])
            if isinstance(ids, list)
        },
    )


def _identity_problem(who: Approver, run: _Run) -> str | None:
    """Why `who` may not approve this run at all, or None."""
    if not name_skeleton(who.name):
        return "the approver's name is empty"
    if confusables.is_dangerous(who.name):
        return f"'{who.name}' mixes scripts with look-alike letters; type the name in one script"
    if name_skeleton(who.name) in run.generators:
        return f"'{who.name}' generated this change (a role, model or the user who started the run)"
    if run.starter_uid is not None and who.uid == run.starter_uid:
        return (
            f"OS user {who.os_user or '?'} (uid {who.uid}) started this run; "
            "an approval must come from another OS account"
        )
    if run.starter_uid is None and who.os_user and who.os_user == run.starter_user:
        return f"OS user {who.os_user} started this run; an approval must come from another account"
    if who.key_id in run.factory_keys:
        return (
            f"key {who.key_id[:16]} sealed this run (the factory's key); "
            "sign with your own key (`assay key create PATH`, then --key PATH)"
        )
    pinned = run.pinned
    if pinned and who.key_id not in pinned.get(name_skeleton(who.name), set()):
        return f"key {who.key_id[:16]} is not a key the project pins for '{who.name}'"
    return None


def _duplicate_problem(who: Approver, counted: list[Approver]) -> str | None:
    """Why `who` adds no independent approval to those `counted`, or None."""
    for other in counted:
        if name_skeleton(other.name) == name_skeleton(who.name):
            return f"'{who.name}' already approved (as '{other.name}')"
        if other.uid == who.uid:
            return f"OS user uid {who.uid} already approved (as '{other.name}')"
        if other.key_id == who.key_id:
            return f"key {who.key_id[:16]} already approved (as '{other.name}')"
    return None


def approval_statement(run_id: str, head: str, payload: dict[str, Any]) -> bytes:
    """The bytes an approval signs: the run, the head approved, who (name and OS account), why,
    and whether the approver knew the run had not converged."""
    return canonical(
        {
            "type": STATEMENT_TYPE,
            "run_id": run_id,
            "head": head,
            "approver": payload.get("approver"),
            "reason": payload.get("reason"),
            "os_uid": payload.get("os_uid"),
            "os_user": payload.get("os_user"),
            "converged": payload.get("converged"),
        }
    )


def _approver_of(event: Event) -> Approver | None:
    p = event.payload
    uid, keyid = p.get("os_uid"), (p.get("signature") or {}).get("keyid")
    if not isinstance(uid, int) or not isinstance(keyid, str):
        return None
    return Approver(str(p.get("approver", "")), uid, str(p.get("os_user", "")), keyid)


def valid_approvals(events: list[Event]) -> tuple[list[Event], list[str]]:
    """Approval events that count, and why each other one does not."""
    run = _run_facts(events)
    good: list[Event] = []
    counted: list[Approver] = []
    problems: list[str] = []
    for event in events:
        if event.kind != k.APPROVAL:
            continue
        p = event.payload
        who = _approver_of(event)
        statement = approval_statement(event.run_id, str(p.get("head", "")), p)
        if p.get("head") != event.prev_hash:
            problem: str | None = "approval does not name the head it follows"
        elif who is None:
            problem = "approval is not bound to an OS user and a key"
        elif signature_problem := verify_signature(statement, p.get("signature")):
            problem = f"approval signature: {signature_problem}"
        else:
            problem = _identity_problem(who, run) or _duplicate_problem(who, counted)
        if problem or who is None:
            problems.append(f"event {event.seq}: {problem}")
            continue
        good.append(event)
        counted.append(who)
    return good, problems


def approve_run(
    run_dir: Path,
    approver: str,
    reason: str,
    signer: Signer,
    *,
    unconverged: bool = False,
    who: Approver | None = None,
) -> Event:
    """Record a signed approval of the run's current head, then seal the ledger with a checkpoint.

    Refuses a run that does not verify (`CorruptLedgerError`, exit 1), and (`UserError`) one
    that has not finished, one that did not converge unless `unconverged`, and an approver who
    generated the change, shares its OS account or key, or adds no independent approval.
    """
    check = verify_run(run_dir)
    if not check.ok:
        raise CorruptLedgerError(
            f"{run_dir} does not verify, refusing to approve it: {check.problems[0]}"
        )
    if not reason.strip():
        raise UserError("an approval needs a reason (--reason)")
    who = who or Approver.current(approver, signer)
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
        if not any(e.kind == k.RUN_FINISHED for e in events):
            raise UserError(f"run {ledger.run_id} has not finished; approve it once it has")
        run = _run_facts(events)
        if not run.converged and not unconverged:
            raise UserError(
                f"run {ledger.run_id} did not converge; approve it anyway only with "
                "--unconverged (the report shows it)"
            )
        if problem := _identity_problem(who, run):
            raise UserError(f"{problem}; segregation of duties needs someone else to approve")
        counted = [a for e in valid_approvals(events)[0] if (a := _approver_of(e))]
        if problem := _duplicate_problem(who, counted):
            raise UserError(f"{problem}: min_approvals counts distinct people")
        head = events[-1].hash
        payload: dict[str, Any] = {
            "approver": approver,
            "reason": reason,
            "os_uid": who.uid,
            "os_user": who.os_user,
            "converged": run.converged,
            "head": head,
        }
        payload["signature"] = signer.sign(approval_statement(ledger.run_id, head, payload))
        event = ledger.append(k.APPROVAL, payload)
        ledger.checkpoint(signer)
    return event


def _os_user() -> str:
    """The account name of the real uid (not $USER or $LOGNAME, which anyone can set)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return ""

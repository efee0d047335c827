"""`assay approve RUN --as NAME --reason TEXT`: record a signed human approval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.evidence.approval import approve_run
from assay.evidence.runs import resolve_run
from assay.ledger import load_or_create_signer
from assay.terminal import info_console, literal

__all__ = ["approve_command", "register"]


def approve_command(
    run: Annotated[str, typer.Argument(help="Run folder, or a run id under ./runs.")],
    approver: Annotated[str, typer.Option("--as", help="Who approves (a person, not a role).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the change may be released.")],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key",
            help="Your own Ed25519 key (PEM), not the factory's; default $ASSAY_SIGNING_KEY.",
        ),
    ] = None,
    unconverged: Annotated[
        bool,
        typer.Option("--unconverged", help="Approve a run that did not converge (shown as such)."),
    ] = False,
) -> int:
    """Append an approval; the approver must not be a role, model or user that made the change."""
    run_dir = resolve_run(run)
    signer = load_or_create_signer(key)
    event = approve_run(run_dir, approver, reason, signer, unconverged=unconverged)
    p = event.payload
    info_console().print(
        f"approval by {literal(approver)} (OS user {literal(p['os_user'])}, uid {p['os_uid']}) "
        f"recorded as event {event.seq} of run {literal(event.run_id)}, signed by key "
        f"{signer.key_id[:16]}" + ("" if p["converged"] else "; the run had not converged")
    )
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay approve`."""
    app.command("approve")(approve_command)

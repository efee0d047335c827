"""`assay verify BUNDLE|RUN`: recompute the chain and digests, check the signatures, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.evidence.runs import resolve_run
from assay.evidence.verify import verify_target
from assay.ledger.keyring import load_trusted
from assay.terminal import console, info_console, literal

__all__ = ["register", "verify_command"]


def verify_command(
    target: Annotated[str, typer.Argument(help="Evidence bundle folder, run folder or run id.")],
    trust: Annotated[
        list[str] | None,
        typer.Option(
            "--trust",
            help="Accept only signatures by this key id (repeatable); default: `assay trust list`.",
        ),
    ] = None,
) -> int:
    """Exit 0 when everything verifies; 1 naming the first bad event or file otherwise."""
    path = Path(target)
    if not path.is_dir():
        path = resolve_run(target)
    result = verify_target(path, trusted=set(trust) if trust else None)
    notes, out = info_console(), console()
    for warning in result.warnings:
        notes.print(f"[yellow]note:[/] {literal(warning)}")
    if result.ok and not trust:
        # Intact and validly signed says nothing about who signed: the signer must be trusted.
        strangers = sorted(result.key_ids - set(load_trusted()))
        if strangers:
            out.print(
                f"[bold red]FAILED[/] {literal(path)}: signature valid, signer not trusted: "
                f"key {', '.join(strangers)} (pin with --trust, or `assay trust add` once "
                "checked with the key's owner)"
            )
            return 1
    if result.ok:
        notes.print(
            f"[bold green]verified[/] {literal(path)}: {result.events} events, "
            f"{result.checkpoints} signed checkpoint(s)"
        )
        return 0
    first, *rest = result.problems
    out.print(f"[bold red]FAILED[/] {literal(path)}: first bad: {literal(first)}")
    for problem in rest[:20]:
        out.print(f"  also: {literal(problem)}")
    if len(rest) > 20:
        out.print(f"  ... and {len(rest) - 20} more")
    return 1


def register(app: typer.Typer) -> None:
    """Attach `assay verify`."""
    app.command("verify")(verify_command)

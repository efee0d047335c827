"""`assay report RUN --out DIR`: write the signed evidence bundle of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.evidence.bundle import report_plugins, write_bundle
from assay.evidence.runs import resolve_run
from assay.ledger import load_or_create_signer
from assay.terminal import info_console, literal

__all__ = ["register", "report_command"]


def report_command(
    run: Annotated[str, typer.Argument(help="Run folder, or a run id under ./runs.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the bundle into.")],
    key: Annotated[
        Path | None,
        typer.Option("--key", help="Ed25519 signing key (PEM); default $ASSAY_SIGNING_KEY."),
    ] = None,
    require_approval: Annotated[
        bool | None,
        typer.Option(
            "--require-approval/--no-require-approval",
            help="Override the run's recorded approval policy when judging releasability.",
        ),
    ] = None,
) -> int:
    """Write HTML and JSON reports, SARIF, JUnit, SBOM, provenance and a signed manifest."""
    run_dir = resolve_run(run)
    signer = load_or_create_signer(key)
    bundle = write_bundle(
        run_dir, out, signer, plugins=report_plugins(run_dir), approval_required=require_approval
    )
    s = bundle.summary
    notes = info_console()
    notes.print(
        f"evidence bundle for run {literal(s.run_id)} written to {literal(out)} "
        f"({len(bundle.files) + 2} files), signed by key {signer.key_id[:16]}"
    )
    state = "releasable" if s.releasable else "not releasable: " + "; ".join(s.releasable_reasons)
    notes.print(f"outcome {literal(s.outcome)}; {literal(state)}")
    if s.sealed_by_report and s.sealed_by_report[-1] == s.events:
        notes.print(
            f"incomplete run: events the run never sealed are now covered by checkpoint "
            f"{s.sealed_by_report[-1]}, signed by this report"
            if not s.complete
            else f"checkpoint {s.sealed_by_report[-1]} signed by this report"
        )
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay report`."""
    app.command("report")(report_command)

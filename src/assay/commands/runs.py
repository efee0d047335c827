"""`assay runs`: list the runs in a runs folder with their outcome, score, cost, and what kept the
best iteration's score below 100 (``why``: the failing gates, the weakest holdout step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from assay.errors import CorruptLedgerError, UserError
from assay.evidence.shortfall import shortfall
from assay.ledger import LEDGER_FILE, Ledger
from assay.ledger.kinds import LOOP_DECISION, MODEL_RESPONSE, RUN_FINISHED, RUN_STARTED
from assay.terminal import Cell, console, literal, print_table

__all__ = ["list_runs", "print_shortfall", "register", "run_shortfall"]


def run_shortfall(run_dir: Path) -> str | None:
    """What kept the run's best iteration below 100 (empty at 100; None: nothing was scored),
    from its ledger."""
    with Ledger.open(run_dir, create=False) as ledger:
        return shortfall(ledger.events())


def print_shortfall(out: Console, run_dir: Path) -> None:
    """The last line of `assay run` / `assay resume`: what the missing points were, if any."""
    why = run_shortfall(run_dir)
    if why is None:
        return  # stopped before any iteration was scored: the outcome line says why
    out.print(f"below 100: {literal(why)}" if why else "score 100: nothing was missing")


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """One summary per run folder under `runs_dir`, oldest first. A run whose ledger cannot be
    read is listed as ``corrupt`` with the reason; it does not hide the others."""
    out = []
    for folder in sorted(p for p in runs_dir.iterdir() if (p / LEDGER_FILE).is_file()):
        try:
            out.append(_summary(folder))
        except CorruptLedgerError as exc:
            out.append(
                {"run": folder.name, "spec": "", "started": "", "status": "corrupt",
                 "iterations": 0, "best_score": None, "tokens": 0, "cost_usd": 0.0,
                 "why": str(exc)}
            )  # fmt: skip
    return out


def _summary(folder: Path) -> dict[str, Any]:
    with Ledger.open(folder, create=False) as ledger:
        started = next(ledger.events(kind=RUN_STARTED), None)
        finished = next(ledger.events(kind=RUN_FINISHED), None)
        decisions = list(ledger.events(kind=LOOP_DECISION))
        replies = [e.payload for e in ledger.events(kind=MODEL_RESPONSE)]
        why = shortfall(ledger.events())
    fin = finished.payload if finished else {}
    last = decisions[-1].payload if decisions else {}
    # An unfinished run (crashed, killed, still going) is shown from its events, not as zeros.
    spent = sum(int(r.get("tokens_in") or 0) + int(r.get("tokens_out") or 0) for r in replies)
    dollars = sum(float(r.get("cost_usd") or 0.0) for r in replies)
    reached = max((int(r.get("iteration") or 0) for r in replies), default=0)
    return {
        "run": folder.name,
        "spec": started.payload.get("spec_name", "") if started else "",
        "started": started.time if started else "",
        "status": fin.get("outcome", "unfinished"),
        "iterations": fin.get("iterations", last.get("iteration", reached)),
        "best_score": fin.get("best_score", last.get("best_score")),
        "tokens": fin.get("tokens", spent),
        "cost_usd": fin.get("cost_usd", dollars),
        "why": why,
    }


def runs_command(
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """List runs."""
    if not runs_dir.is_dir():
        raise UserError(f"no runs folder at {runs_dir} (start one with `assay run SPEC`)")
    rows = list_runs(runs_dir)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return 1 if any(r["status"] == "corrupt" for r in rows) else 0
    cells: list[list[Cell]] = []
    for r in rows:
        best = "-" if r["best_score"] is None else f"{float(r['best_score']):.1f}"
        cells.append([
            r["run"], r["spec"], r["started"][:19], r["status"], str(r["iterations"]), best,
            f"{int(r['tokens']):,}", f"${float(r['cost_usd']):.4f}", r["why"] or "-",
        ])  # fmt: skip
    columns = ("run", "spec", "started", "status", "iterations", "best", "tokens", "cost", "why")
    print_table(console(), f"runs in {runs_dir}", columns, cells)
    return 1 if any(r["status"] == "corrupt" for r in rows) else 0


def register(app: typer.Typer) -> None:
    """Attach `assay runs`."""
    app.command("runs")(runs_command)

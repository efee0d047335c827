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
from assay.factory import events as ev
from assay.ledger import Ledger, is_run_folder
from assay.ledger.kinds import RUN_STARTED
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
    for folder in sorted(p for p in runs_dir.iterdir() if is_run_folder(p)):
        try:
            out.append(_summary(folder))
        except CorruptLedgerError as exc:
            out.append(
                {"run": folder.name, "spec": "", "started": "", "status": "corrupt",
                 "iterations": 0, "best_score": None, "tokens": 0, "cost_usd": 0.0,
                 "cached_share": 0.0, "saved_usd": 0.0, "roles": {}, "why": str(exc)}
            )  # fmt: skip
    return out


def _summary(folder: Path) -> dict[str, Any]:
    with Ledger.open(folder, create=False) as ledger:
        events = list(ledger.events())
    why = shortfall(events)
    started = next(ev.all_of(ev.RunStarted, events), None)
    fin = next(ev.all_of(ev.RunFinished, events), None)
    decisions = list(ev.all_of(ev.LoopDecided, events))
    replies = list(ev.all_of(ev.ModelResponded, events))
    # An unfinished run (crashed, killed, still going) is shown from its events, not as zeros.
    last = decisions[-1] if decisions else None
    reached = max((r.iteration for r in replies), default=0)
    tokens_in = sum(r.tokens_in for r in replies)
    cached = sum(r.cache_read_tokens for r in replies)
    return {
        "run": folder.name,
        "spec": started.spec_name if started else "",
        "started": next((e.time for e in events if e.kind == RUN_STARTED), ""),
        "status": fin.outcome if fin else "unfinished",
        "iterations": fin.iterations if fin else (last.iteration if last else reached),
        "best_score": fin.best_score if fin else (last.best_score if last else None),
        "tokens": fin.tokens if fin else sum(r.tokens_in + r.tokens_out for r in replies),
        "cost_usd": fin.cost_usd if fin else sum(r.cost_usd or 0.0 for r in replies),
        "cached_share": cached / tokens_in if tokens_in else 0.0,
        "saved_usd": sum(_saved(r) for r in replies),
        "roles": _by_role(replies),
        "why": why,
    }


def _saved(r: ev.ModelResponded) -> float:
    """What the provider's prompt cache saved on one response (0 when unpriced)."""
    if r.uncached_cost_usd is None or r.cost_usd is None:
        return 0.0
    return r.uncached_cost_usd - r.cost_usd


def _by_role(replies: list[ev.ModelResponded]) -> dict[str, dict[str, Any]]:
    """Tokens (input, of it cached, output) and dollars per role, in the order roles spoke."""
    roles: dict[str, dict[str, Any]] = {}
    for r in replies:
        row = roles.setdefault(r.role, {
            "requests": 0, "tokens_in": 0, "cached_in": 0, "tokens_out": 0, "cost_usd": 0.0,
            "saved_usd": 0.0,
        })  # fmt: skip
        row["requests"] += 1
        row["tokens_in"] += r.tokens_in
        row["cached_in"] += r.cache_read_tokens
        row["tokens_out"] += r.tokens_out
        row["cost_usd"] += r.cost_usd or 0.0
        row["saved_usd"] += _saved(r)
    return roles


def runs_command(
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="Where runs live.")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    by_role: Annotated[
        bool, typer.Option("--roles", help="Also list each run's tokens and dollars per role.")
    ] = False,
) -> int:
    """List runs.

    Each run's outcome, score, tokens, dollars, the cached share of its input and what the
    prompt cache saved."""
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
            f"{int(r['tokens']):,}", f"${float(r['cost_usd']):.4f}",
            f"{float(r['cached_share']):.0%}", f"${float(r['saved_usd']):.4f}", r["why"] or "-",
        ])  # fmt: skip
    columns = (
        "run", "spec", "started", "status", "iterations", "best", "tokens", "cost", "cached",
        "saved", "why",
    )  # fmt: skip
    out = console()
    print_table(out, f"runs in {runs_dir}", columns, cells)
    if by_role:
        for r in rows:
            role_cells: list[list[Cell]] = [
                [role, str(v["requests"]), f"{v['tokens_in']:,}", f"{v['cached_in']:,}",
                 f"{v['tokens_out']:,}", f"${v['cost_usd']:.4f}", f"${v['saved_usd']:.4f}"]
                for role, v in r["roles"].items()
            ]  # fmt: skip
            heads = ("role", "requests", "tokens in", "cached", "tokens out", "cost", "saved")
            print_table(out, f"{r['run']} by role", heads, role_cells)
    return 1 if any(r["status"] == "corrupt" for r in rows) else 0


def register(app: typer.Typer) -> None:
    """Attach `assay runs`."""
    app.command("runs")(runs_command)

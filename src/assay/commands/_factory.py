"""How `assay run` and `assay resume` show a run: a live view on a terminal, one plain line per
step otherwise, and the outcome. The run itself is wired in `assay.commands._compose`. Needs the
``factory`` extra (pydantic-ai); the command modules import this one only once they have checked
it is installed.
"""

from __future__ import annotations

import asyncio

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from assay.factory.loop import Factory, Progress, RunOutcome
from assay.terminal import literal

__all__ = ["execute"]

_STATE_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "running": "cyan"}


def _view(run_id: str, p: Progress) -> Group:
    head = Table.grid(padding=(0, 2))
    for _ in range(7):
        head.add_column()
    score = "-" if p.score is None else f"{p.score:.1f}"
    best = "-" if p.best is None else f"{p.best:.1f}"
    sat = "-" if p.satisfaction is None else f"{p.satisfaction:.0f}%"
    head.add_row(
        f"[bold]{run_id}[/]", f"iteration {p.iteration}", p.phase, f"score {score} (best {best})",
        f"scenarios {sat}", f"{p.tokens:,} tokens", f"${p.dollars:.4f}",
    )  # fmt: skip
    gates = Text()
    for name, state in p.gates.items():
        gates.append(f"{name}:", style="bold")
        gates.append(f"{state}  ", style=_STATE_STYLE.get(state, "yellow"))
    return Group(head, gates)


def execute(factory: Factory, run_id: str, console: Console, *, live: bool) -> RunOutcome:
    """Run `factory`, showing its progress on `console`; print the outcome.

    A live view on a terminal; one plain line per step (the CI log) with ``--no-live`` (`live`
    False), when `console` is not a terminal, or under ``CI=true``. Nothing under ``-q``.
    """
    from assay.factory.progress_lines import attach, plain_lines_wanted

    if plain_lines_wanted(no_live=not live, is_terminal=console.is_terminal):
        if not console.quiet:
            attach(factory, console.file)
        outcome = asyncio.run(factory.run())
    else:
        with Live(_view(run_id, factory.progress), console=console, refresh_per_second=8) as view:
            factory.on_progress = lambda p: view.update(_view(run_id, p))
            outcome = asyncio.run(factory.run())
    colour = "green" if outcome.outcome == "converged" else "yellow"
    console.print(
        f"[bold {colour}]{literal(outcome.outcome)}[/] after {outcome.iterations} iteration(s); "
        f"best iteration {outcome.best_iteration} (score {outcome.best_score:.1f}); "
        f"{outcome.tokens:,} tokens, ${outcome.dollars:.4f}"
    )
    console.print(f"workspace: {literal(factory.workspace)}")
    console.print(f"ledger:    {literal(factory.ledger.path)}")
    return outcome

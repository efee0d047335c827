"""`assay gate [PATHS]`: run the quality gates over a project, or some of its files; one verdict.

The gate machinery (pydantic models, the runner, the plugins) is imported when the command runs,
not when it is registered, so ``assay gate --help`` answers at once.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from assay.errors import UserError
from assay.terminal import Cell, console, info_console, literal, print_table

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.gates.base import Gate, GateReport

__all__ = ["OutputFormat", "collect_gates", "register"]


class OutputFormat(enum.StrEnum):
    """What `assay gate --format` can write."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"


#: How each `GateStatus` (a string enum) is coloured on a terminal.
_STYLE = {
    "passed": "green",
    "failed": "red",
    "error": "bold red",
    "not-evaluated": "yellow",
    "not-applicable": "dim",
}


def collect_gates(settings: Settings | None = None) -> list[Gate]:
    """Every gate offered by the built-ins and the plugins `settings` allow, by unique name.

    The pytest gate gets this command's plugin manager: a ``sandbox`` option naming a plugin's
    backend is looked up in it, under the same ``[plugins]`` settings.
    """
    from assay.gates.pytest_gate import PytestGate
    from assay.plugins import gates as plugin_gates
    from assay.plugins import make_plugin_manager

    pm = make_plugin_manager(settings=settings)
    found = plugin_gates(pm)
    for gate in found:
        if isinstance(gate, PytestGate):
            gate.plugins = pm
    return found


def _select(gates: list[Gate], only: list[str], skip: list[str]) -> list[Gate]:
    names = {g.name for g in gates}
    for name in [*only, *skip]:
        if name not in names:
            raise UserError(f"unknown gate '{name}'; available: {', '.join(sorted(names))}")
    return [g for g in gates if (not only or g.name in only) and g.name not in skip]


def _progress_table(states: dict[str, str]) -> Table:
    table = Table(show_header=False, box=None)
    for name, state in states.items():
        table.add_row(literal(name), literal(state))
    return table


def _summary_rows(report: GateReport) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for r in report.results:
        live = [f for f in r.findings if f.waived_by is None]
        rows.append(
            [
                r.gate,
                (str(r.status), _STYLE[r.status]),
                "yes" if r.required else "advisory",
                str(len(live)),
                f"{r.duration_s:.1f}s" + (" (cached)" if r.cached else ""),
                r.message,
            ]
        )
    return rows


def _print_text(out: Console, notes: Console, report: GateReport, verbose: bool) -> None:
    """The summary table and notes on `notes` (silent under -q); findings and verdict on `out`."""
    columns = ("gate", "status", "required", "findings", "time", "detail")
    print_table(notes, f"assay gate {report.root}", columns, _summary_rows(report))
    for r in report.results:
        live = [f for f in r.findings if f.waived_by is None]
        shown = live if verbose else r.blocking_findings
        limit = len(shown) if verbose else 20
        for f in shown[:limit]:
            # One whole line per finding, so editors and CI problem matchers can parse it.
            # A finding about a whole file (line 0: not formatted, too large) has no position.
            where = f":{f.line}:{f.column}" if f.line > 0 else ""
            out.print(
                f"{literal(_shown_path(report.root, f.file))}{where}: "
                f"[bold]{literal(f.rule_id)}[/] {literal(f'[{f.severity}]')} {literal(f.message)}"
            )
        hidden = len(live) - min(len(shown), limit)
        if hidden > 0:
            notes.print(
                f"  ... and {hidden} more from {literal(r.gate)}"
                + ("" if verbose else f", {len(live) - len(shown)} below '{r.fail_on}'")
                + " (--verbose shows all)"
            )
    _print_skipped(out, notes, report, verbose)
    _print_notes(out, report)
    for w in report.expired_waivers:
        out.print(
            f"[yellow]expired waiver[/] ({literal(w.get('expires'))}, owner "
            f"{literal(w.get('owner'))}): {literal(w.get('rule') or w.get('fingerprint'))}: "
            f"{literal(w.get('reason'))}"
        )
    colour = "green" if report.passed else "red"
    notes.print(f"[bold {colour}]{literal(report.summary)}[/]")


def _print_skipped(out: Console, notes: Console, report: GateReport, verbose: bool) -> None:
    """One whole line per file some gate did not scan, naming the gates and the reason."""
    gates_by_file: dict[tuple[str, str], list[str]] = {
        (s.path, s.reason): [] for s in report.skipped
    }
    for r in report.results:
        for s in r.skipped:
            gates_by_file.setdefault((s.path, s.reason), []).append(r.gate)
    limit = len(gates_by_file) if verbose else 20
    for (path, reason), gates in sorted(gates_by_file.items())[:limit]:
        by = f" by {literal(', '.join(gates))}" if gates else ""  # no gate applied to it
        out.print(
            f"{literal(_shown_path(report.root, path))}: [yellow]not scanned[/]{by}: "
            f"{literal(reason)}"
        )
    if len(gates_by_file) > limit:
        hidden = len(gates_by_file) - limit
        notes.print(f"  ... and {hidden} more not scanned (--verbose shows all)")


def _print_notes(out: Console, report: GateReport) -> None:
    """One whole line per note (a cache entry ignored, a result not cached), even under -q:
    they say why a result may differ from the last run's."""
    for note in report.notes:
        out.print(f"[yellow]note:[/] {literal(note)}")
    for r in report.results:
        for note in r.notes:
            out.print(f"[yellow]note:[/] {literal(r.gate)}: {literal(note)}")


def gate_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Project folder to check (default: the current one), or files to check: then the "
            "project is found from them and only they are checked (pre-commit passes the staged "
            "files).",
            metavar="PATHS",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Run only this gate (repeatable).")
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option("--skip", help="Do not run this gate (repeatable).")
    ] = None,
    fail_fast: Annotated[
        bool | None,
        typer.Option("--fail-fast/--no-fail-fast", help="Stop once a required gate fails."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="assay.toml or pyproject.toml to use.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write .assay/cache.")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="How many tools run at once.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show every finding.")] = False,
) -> int:
    """Run the quality gates on PATHS. Exit 0 passed, 1 a required gate failed, 2 usage error."""
    from rich.live import Live

    from assay.config import check_gate_tables, find_config, load_settings
    from assay.gates.collect import resolve_target
    from assay.gates.pytest_gate import configured_executables
    from assay.gates.runner import GateEvent, GateRunner

    target = resolve_target(paths or [Path(".")])
    root = target.root
    settings = load_settings(config if config is not None else find_config(root))
    installed = collect_gates(settings)
    check_gate_tables(settings, installed)
    gates = _select(installed, only or [], skip or [])
    to_stderr = fmt is not OutputFormat.TEXT or output is not None
    notes = info_console(stderr=to_stderr)
    info_console(stderr=True).print(  # stderr: the text report on stdout stays as it was
        f"config: {literal(settings.source)}" if settings.source else "config: none (defaults)"
    )
    for line in configured_executables(settings, root):  # what a config makes assay execute
        info_console(stderr=True).print(literal(line))
    states = {g.name: "queued" for g in sorted(gates, key=lambda g: (g.cost, g.name))}

    # The live view is drawn only on a terminal (Rich skips it when piped) and never under -q.
    with Live(_progress_table(states), console=notes, transient=True) as live:

        def on_event(event: GateEvent) -> None:
            states[event.gate] = str(event.result.status) if event.result else event.state
            live.update(_progress_table(states))

        runner = GateRunner(
            root,
            settings,
            gates,
            cache_dir=None if no_cache else root / ".assay" / "cache",
            fail_fast=fail_fast,
            jobs=jobs,
            on_event=on_event,
            files=target.files,
            requested=only or (),
        )
        report = runner.run_sync()

    if report.summary == "no gate applies":
        unread = "; ".join(f"{s.path} ({s.reason})" for s in report.skipped)
        raise UserError(
            f"no gate applies to {root}: it holds no file any gate checks"
            + (f"; not scanned: {unread}" if unread else "")
        )
    _emit_report(console(stderr=to_stderr), notes, report, fmt, output, verbose)
    return 0 if report.passed else 1


def _shown_path(root: str, file: str) -> str:
    """`file` (relative to the project) as a path that opens from the current folder."""
    if not file:
        return root
    full = Path(root) / file
    try:
        return str(full.relative_to(Path.cwd()))
    except ValueError:
        return str(full)


def _emit_report(
    out: Console,
    notes: Console,
    report: GateReport,
    fmt: OutputFormat,
    output: Path | None,
    verbose: bool,
) -> None:
    """Print the report as text, or render it as `fmt` to `output` (stdout when None)."""
    from assay.gates.output import to_json, to_junit, to_sarif

    rendered = {
        OutputFormat.JSON: to_json,
        OutputFormat.SARIF: to_sarif,
        OutputFormat.JUNIT: to_junit,
    }
    if fmt is OutputFormat.TEXT:
        _print_text(out, notes, report, verbose)
        if output is not None:
            output.write_text(to_json(report), encoding="utf-8")
        return
    text = rendered[fmt](report)
    _print_notes(out, report)  # on stderr: the document holds them too
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    notes.print(f"{literal(report.summary)}; {fmt} report written to {literal(output)}")


def register(app: typer.Typer) -> None:
    """Attach `assay gate`."""
    app.command("gate")(gate_command)

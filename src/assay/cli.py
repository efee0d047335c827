"""The `assay` command. Subcommands live in `assay.commands`, one module each.

`main()` is the single error boundary: expected errors print one line each (exit 1 for a verdict
such as corrupt evidence, 2 for user errors, 3 for run errors), Ctrl-C prints one line and exits
130, SIGTERM takes the same orderly path and exits 143 (128 + 15, as a shell reports a process
that SIGTERM ended), and anything unexpected prints a short line and the path of a log holding
the traceback.
Output follows `assay.terminal`: no line is ever wrapped, and user text is shown literally.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console

try:
    from typer.exceptions import TyperException  # typer >= 0.26 vendors click
except ImportError:  # older typer raises click's own exceptions
    from click.exceptions import ClickException as TyperException  # type: ignore[assignment]

from assay import __version__
from assay.commands import register
from assay.errors import AssayError, PluginFailure, PluginWarning
from assay.state import state_dir
from assay.terminal import console, literal, set_quiet

__all__ = ["build_app", "main"]

#: Set by the shell when it asks for completions (Click's ``_<PROG>_COMPLETE`` convention).
_COMPLETE_ENV = "_ASSAY_COMPLETE"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assay {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet", "-q", help="Print only findings, problems and errors; no progress or notes."
        ),
    ] = False,
) -> None:
    """assay: spec in, gated service and audit evidence out."""
    set_quiet(quiet)


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The Typer app with the command `argv` names (or all of them) attached."""
    app = typer.Typer(
        name="assay",
        help="A software factory for regulated environments: gates, scenarios, runs and evidence.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    register(app, argv, complete=_COMPLETE_ENV in os.environ)
    return app


def _plugin_warning_printer(err: Console, fallback: Any) -> Any:
    """Print a plugin's warning as one line naming it; other warnings as Python would."""

    def show(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, PluginWarning):
            err.print(f"[yellow]warning:[/] {literal(message)}")
        else:
            fallback(message, category, *args, **kw)

    return show


def _invoke(app: typer.Typer, args: list[str]) -> Any:
    """Parse `args` and run the command, letting Ctrl-C reach `main` as KeyboardInterrupt.

    (Typer's own entry point turns Ctrl-C into a silent exit code; the contract is one line.)
    """
    command = typer.main.get_command(app)
    if _COMPLETE_ENV in os.environ:  # the shell asks for completions: Click answers and exits
        return command.main(args=args, prog_name="assay")
    with command.make_context("assay", list(args)) as ctx:
        return command.invoke(ctx)


def _write_crash_log(text: str) -> str:
    """Write `text` to a new private file (mkstemp: unique, 0600, never through a planted link)
    under the user's state folder, with the versions that produced it; return its path."""
    folder = state_dir() / "crashes"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, path = tempfile.mkstemp(prefix="crash-", suffix=".log", dir=folder)
    except OSError:  # no usable state folder (read-only home): a private temp file instead
        fd, path = tempfile.mkstemp(prefix="assay-crash-", suffix=".log")
    header = f"assay {__version__}, Python {sys.version.split()[0]} on {sys.platform}\n\n"
    with os.fdopen(fd, "w", encoding="utf-8") as log:
        log.write(header + text)
    return path


class _Sigterm:
    """Whether SIGTERM (not Ctrl-C) is what interrupted this command."""

    received = False


def _sigterm_as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """Handle SIGTERM as Ctrl-C: the orderly path that ends every tool's process group, stops
    services and containers and removes temp folders (finally blocks, task cancellation)."""
    _Sigterm.received = True
    on_sigint = signal.getsignal(signal.SIGINT)
    if callable(on_sigint):  # asyncio.run's handler cancels its main task; Python's raises
        on_sigint(signal.SIGINT, frame)
    else:  # SIGINT ignored (a background job of a script): SIGTERM must still stop assay
        raise KeyboardInterrupt


@contextmanager
def _sigterm_handled() -> Iterator[None]:
    """`_sigterm_as_ctrl_c` for the life of one command (only the main thread may set it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Sigterm.received = False
    previous = signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_error(err: Console, exc: AssayError) -> None:
    """``error: <first line>``, then the message's other lines (one per problem) as they are."""
    first, *rest = str(exc).splitlines() or [""]
    err.print(f"[bold red]error:[/] {literal(first)}")
    for line in rest:
        err.print(literal(line))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    err = console(stderr=True)
    try:
        with warnings.catch_warnings(), _sigterm_handled():
            warnings.showwarning = _plugin_warning_printer(err, warnings.showwarning)
            args = sys.argv[1:] if argv is None else argv
            result = _invoke(build_app(args), args)
    except PluginFailure as exc:
        # A plugin's code failed: name it, say how to keep it out, keep its traceback for its
        # authors. Not "a bug in assay".
        _print_error(err, exc)
        log = _write_crash_log(traceback.format_exc())
        hint = (
            f"a failure in the plugin '{exc.plugin}', not in assay: report it to its authors "
            f'(traceback: {log}), or keep it out with plugins.block = ["{exc.plugin}"]'
        )
        err.print(literal(hint))
        return exc.exit_code
    except AssayError as exc:
        _print_error(err, exc)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        if _Sigterm.received:
            err.print("terminated", markup=False)
            return 128 + signal.SIGTERM
        err.print("interrupted", markup=False)
        return 130
    except TyperException as exc:  # usage errors: bad option, missing argument, out of range
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {exc.format_message()}", markup=False)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except BrokenPipeError:  # `assay … | head`: the reader left; say nothing more, as Click does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception:
        log = _write_crash_log(traceback.format_exc())
        err.print(f"[bold red]internal error[/] (a bug in assay); traceback: {literal(log)}")
        return 3
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

"""How assay writes text: one output contract for people and for parsers.

- A machine-readable line (a finding, a lint problem, an error, a path) is written whole, on one
  line, whatever the terminal width: every console is made with ``soft_wrap=True``, so Rich never
  inserts a newline and never splits a path.
- Text that comes from the user or the project (file names, messages, rule ids) is never read as
  Rich markup or emoji codes, and its control characters are shown escaped (``\\n``, ``\\x1b``),
  so a file name cannot break a line or forge another one: use `literal` inside markup strings.
- Tables are for terminals. Piped, `print_table` writes a header and one tab-separated row per
  line with every value in full; ``--format json`` is there for programs.
- ``-q/--quiet`` silences progress and informational lines (`info_console`); findings, problems
  and errors still print, and the exit code carries the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "Cell",
    "console",
    "info_console",
    "is_quiet",
    "literal",
    "plain",
    "print_table",
    "set_quiet",
]


@dataclass
class _State:
    quiet: bool = False


_STATE = _State()


def set_quiet(quiet: bool) -> None:
    """Set by the root ``-q/--quiet`` flag before any command runs."""
    _STATE.quiet = quiet


def is_quiet() -> bool:
    """Whether ``-q/--quiet`` was given."""
    return _STATE.quiet


def plain(text: object) -> str:
    """`text` on one line, printed as is: what does not print is shown as its Python escape.

    That covers newlines, tabs, ESC, NUL, U+2028 and the bidirectional overrides that reorder
    what a reader sees (CVE-2021-42574); letters of any script and ``[brackets]`` are kept.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def literal(text: object) -> str:
    """`text` safe inside a Rich markup string: shown exactly, on one line."""
    return escape(plain(text))


def console(*, stderr: bool = False) -> Console:
    """A console for results, findings and errors: never wraps, never reads emoji codes."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False, emoji=False)


def info_console(*, stderr: bool = False) -> Console:
    """A console for progress and notes: like `console`, and silent under ``--quiet``."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False, emoji=False, quiet=is_quiet())


#: A table cell: its text (shown literally) and, optionally, a Rich style for terminals.
Cell = str | tuple[str, str]


def print_table(
    out: Console, title: str, columns: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> None:
    """A Rich table on a terminal; piped, a header line and tab-separated rows, values whole."""
    if not out.is_terminal:
        if not out.quiet:  # written raw: Rich would expand the tabs into spaces
            lines = ["\t".join(columns), *("\t".join(plain(_text(c)) for c in r) for r in rows)]
            out.file.write("".join(f"{line}\n" for line in lines))
            out.file.flush()
        return
    table = Table(title=literal(title))
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_styled(c) for c in row))
    out.print(table)


def _text(cell: Cell) -> str:
    return cell if isinstance(cell, str) else cell[0]


def _styled(cell: Cell) -> str:
    if isinstance(cell, str):
        return literal(cell)
    text, style = cell
    return f"[{style}]{literal(text)}[/]" if style else literal(text)

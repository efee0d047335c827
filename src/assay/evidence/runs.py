"""Finding a run folder from what the user typed."""

from __future__ import annotations

from pathlib import Path

from assay.errors import UserError
from assay.ledger import LEDGER_FILE

__all__ = ["resolve_run"]


def resolve_run(target: str | Path, *, runs_root: Path | None = None) -> Path:
    """A folder holding ``ledger.sqlite``: `target` itself, or ``runs/<target>``."""
    path = Path(target)
    if (path / LEDGER_FILE).is_file():
        return path
    root = runs_root if runs_root is not None else Path("runs")
    if (root / str(target) / LEDGER_FILE).is_file():
        return root / str(target)
    raise UserError(f"no run '{target}': neither {path} nor {root / str(target)} holds a ledger")

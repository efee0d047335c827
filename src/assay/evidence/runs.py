"""Finding a run folder from what the user typed."""

from __future__ import annotations

from pathlib import Path

from assay.errors import UserError
from assay.ledger import is_run_folder

__all__ = ["resolve_run"]


def resolve_run(target: str | Path, *, runs_root: Path | None = None) -> Path:
    """A run folder (`is_run_folder`, either store): `target` itself, or ``runs/<target>``."""
    path = Path(target)
    if is_run_folder(path):
        return path
    root = runs_root if runs_root is not None else Path("runs")
    if is_run_folder(root / str(target)):
        return root / str(target)
    raise UserError(f"no run '{target}': neither {path} nor {root / str(target)} holds a ledger")

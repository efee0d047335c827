"""Issue 12, point 12: `assay verify` writes nothing beside the ledger (it used to leave
``ledger.sqlite-shm`` and ``-wal`` behind, and needed write access to the run folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assay.cli import main
from assay.ledger import Signer


def _names(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_verify_leaves_the_run_folder_as_it_found_it(
    sample_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], signer: Signer
) -> None:
    run = Path(shutil.copytree(sample_run, tmp_path / "run"))
    assert main(["trust", "add", signer.key_id]) == 0
    before = _names(run)
    assert not any(name.endswith(("-wal", "-shm")) for name in before)
    assert main(["verify", str(run)]) == 0, capsys.readouterr()
    assert _names(run) == before

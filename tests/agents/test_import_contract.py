"""The holdout contract: assay.agents and assay.factory never import assay.scenarios."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    # import-linter prints through Rich, which wraps at $COLUMNS: fix a width so nothing does.
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "500"}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_contract_is_kept() -> None:
    proc = _lint(REPO, REPO / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "assay.scenarios KEPT" in proc.stdout
    assert "0 broken" in proc.stdout


def test_contract_fails_when_the_loop_imports_scenarios(tmp_path: Path) -> None:
    shutil.copytree(REPO / "src" / "assay", tmp_path / "src" / "assay",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    feedback = tmp_path / "src" / "assay" / "factory" / "feedback.py"
    feedback.write_text(feedback.read_text() + "\nimport assay.scenarios.loader  # leak\n")
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode != 0
    assert "BROKEN" in proc.stdout
    assert "assay.factory.feedback -> assay.scenarios.loader" in proc.stdout

"""The layers contract (.importlinter): no module imports from a layer above its own.

Also the shared vocabulary it rests on: severities, findings and role names are defined once, in
`assay.vocabulary`, and the older import paths hand out the very same objects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
CONTRACT = "Layers: a module imports only from layers below its own"


def _lint(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    # import-linter prints through Rich, which wraps at $COLUMNS: fix a width so nothing does.
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "500"}
    return subprocess.run(
        [str(LINT), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "src" / "assay", tmp_path / "src" / "assay",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    return tmp_path / "src" / "assay"


def _line(stdout: str, start: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(start))


def test_the_untouched_tree_keeps_the_layers(tmp_path: Path) -> None:
    _copy(tmp_path)
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " KEPT" in _line(proc.stdout, CONTRACT)
    assert "0 broken" in proc.stdout


def test_an_upward_import_from_the_bottom_breaks_the_contract(tmp_path: Path) -> None:
    vocabulary = _copy(tmp_path) / "vocabulary.py"
    vocabulary.write_text(vocabulary.read_text() + "\nimport assay.cli  # upward\n")
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode != 0
    assert " BROKEN" in _line(proc.stdout, CONTRACT)
    assert "assay.vocabulary is not allowed to import assay.cli" in proc.stdout
    assert "assay.vocabulary -> assay.cli" in proc.stdout


def test_an_upward_import_hidden_in_a_function_breaks_it_too(tmp_path: Path) -> None:
    config = _copy(tmp_path) / "config.py"
    hidden = "\n\ndef _runner() -> object:\n    from assay.gates import runner\n\n"
    hidden += "    return runner\n"
    config.write_text(config.read_text() + hidden)
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode != 0
    assert " BROKEN" in _line(proc.stdout, CONTRACT)
    assert "assay.config is not allowed to import assay.gates" in proc.stdout
    assert "assay.config -> assay.gates.runner" in proc.stdout


def test_siblings_in_one_layer_stay_independent(tmp_path: Path) -> None:
    # config and messages share a layer with "|": neither may import the other
    messages = _copy(tmp_path) / "messages.py"
    messages.write_text(messages.read_text() + "\nimport assay.config  # sideways\n")
    proc = _lint(tmp_path, tmp_path / "src")
    assert proc.returncode != 0
    assert "assay.messages is not allowed to import assay.config" in proc.stdout


def test_the_repository_keeps_the_layers() -> None:
    proc = _lint(REPO, REPO / "src")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _line(proc.stdout, CONTRACT).startswith(CONTRACT)
    assert "0 broken" in proc.stdout


def test_the_old_paths_hand_out_the_shared_types() -> None:
    from assay import messages, vocabulary
    from assay.agents import models
    from assay.evidence import approval
    from assay.gates import base

    for name in ("Severity", "SeverityName", "Finding", "GateReport", "GateStatus", "RuleInfo",
                 "SkippedFile", "fingerprint"):  # fmt: skip
        assert getattr(base, name) is getattr(vocabulary, name), name
    assert messages.Finding is vocabulary.Finding
    assert messages.Role is vocabulary.Role
    assert models.ROLES == ("architect", "tester", "coder", "security-reviewer")
    assert ("human", *models.ROLES, "judge", "factory") == vocabulary.ROLES
    assert (*models.ROLES, "judge", "factory") == approval.GENERATING_ROLES


def test_a_message_names_only_a_known_role() -> None:
    from pydantic import TypeAdapter, ValidationError

    from assay.vocabulary import ROLES, Role

    adapter: TypeAdapter[Role] = TypeAdapter(Role)
    assert [adapter.validate_python(r) for r in ROLES] == list(ROLES)
    with pytest.raises(ValidationError):
        adapter.validate_python("reviewer")

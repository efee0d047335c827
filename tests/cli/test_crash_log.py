"""Issue 12, point 5: the crash log is private and unique, and never follows a planted link."""

from __future__ import annotations

import re
import stat
import tempfile
from pathlib import Path

import pytest

import assay
from assay.cli import main


def _crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    import assay.commands.runs as runs

    def broken(runs_dir: Path) -> list[object]:
        raise RuntimeError("a bug in assay")

    monkeypatch.setattr(runs, "list_runs", broken)
    (tmp_path / "runs").mkdir(exist_ok=True)
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 3
    said = capsys.readouterr().err
    match = re.search(r"traceback: (\S+)", said)
    assert match, said
    return Path(match.group(1))


def test_a_crash_writes_a_new_private_log_under_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    # Before: the log was $TMPDIR/assay-crash.log, written through whatever link was planted there.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    planted = Path(tempfile.gettempdir()) / "assay-crash.log"
    planted.unlink(missing_ok=True)
    planted.symlink_to(victim)
    try:
        first = _crash(tmp_path, monkeypatch, capsys)
        second = _crash(tmp_path, monkeypatch, capsys)
    finally:
        planted.unlink()
    assert victim.read_text() == "precious\n"
    assert first != second  # unique per crash
    for log in (first, second):
        assert log.parent == tmp_path / "state" / "assay" / "crashes"
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        text = log.read_text()
        assert text.startswith(f"assay {assay.__version__}, Python ")
        assert "RuntimeError: a bug in assay" in text

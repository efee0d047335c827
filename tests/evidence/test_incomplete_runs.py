"""Issue 12, point 13: a run that crashed, was killed or is still running can be reported.

The report seals what verified with a checkpoint it signs (``sealed_by: assay report``) and says
"incomplete"; a damaged unsealed run is refused and left unsealed (nothing forged gets blessed).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import CorruptLedgerError
from assay.evidence.bundle import report_plugins, write_bundle
from assay.ledger import Ledger, Signer, verify_run
from tests.conftest import line_with
from tests.evidence.sample_run import write_sample_run


def test_a_crashed_run_is_reported_as_incomplete_and_verifies(tmp_path: Path) -> None:
    signer = Signer.generate()
    run = write_sample_run(tmp_path / "run", signer, finish=False, seal=False)
    assert not verify_run(run).ok  # never sealed
    bundle = write_bundle(run, tmp_path / "bundle", signer, plugins=report_plugins(run))
    s = bundle.summary
    assert s.outcome == "unfinished" and not s.complete and not s.releasable
    assert s.sealed_by_report == [s.events]
    assert "the run is incomplete" in s.releasable_reasons[0]
    assert "incomplete" in (bundle.path / "report.html").read_text()
    assert verify_run(run).ok
    with Ledger.open(run, create=False) as ledger:
        last = ledger.head()
    assert last is not None and last.payload["sealed_by"] == "assay report"
    # A second report seals nothing new: the run's tail is covered now.
    again = write_bundle(run, tmp_path / "again", signer, plugins=report_plugins(run))
    assert again.summary.sealed_by_report == s.sealed_by_report


def test_a_still_running_run_gets_a_checkpoint_over_its_new_events_only(tmp_path: Path) -> None:
    signer = Signer.generate()
    run = write_sample_run(tmp_path / "run", signer, finish=False)
    with Ledger.open(run, create=False) as ledger:  # the run goes on after its last checkpoint
        ledger.append("loop.decision", {"iteration": 3, "decision": "continue", "reason": "x"})
    bundle = write_bundle(run, tmp_path / "bundle", signer, plugins=report_plugins(run))
    assert bundle.summary.sealed_by_report == [bundle.summary.events]
    assert bundle.summary.checkpoints == 2


def test_a_damaged_unsealed_run_is_refused_and_not_sealed(tmp_path: Path) -> None:
    signer = Signer.generate()
    run = write_sample_run(tmp_path / "run", signer, finish=False, seal=False)
    with sqlite3.connect(run / "ledger.sqlite") as db:
        db.execute("DROP TRIGGER events_no_update")
        body = db.execute("SELECT body FROM events WHERE seq = 3").fetchone()[0]
        db.execute(
            "UPDATE events SET body = ? WHERE seq = 3", (body.replace(b'"kind"', b'"kinD"', 1),)
        )
    with pytest.raises(CorruptLedgerError, match="refusing to report"):
        write_bundle(run, tmp_path / "bundle", signer, plugins=report_plugins(run))
    assert not (tmp_path / "bundle").exists()
    with sqlite3.connect(run / "ledger.sqlite") as db:
        kinds = [json.loads(b).get("kind") for (b,) in db.execute("SELECT body FROM events")]
    assert "checkpoint" not in kinds


def test_cli_report_of_a_crashed_run_says_incomplete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_sample_run(tmp_path / "run", Signer.generate(), finish=False, seal=False)
    assert main(["report", str(run), "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert line_with(out, "incomplete run:", "signed by this report")
    assert json.loads((tmp_path / "b" / "report.json").read_text())["outcome"] == "unfinished"
    assert main(["verify", str(tmp_path / "b")]) == 0  # the report's key is the user's own

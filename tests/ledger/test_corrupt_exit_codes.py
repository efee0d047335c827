"""A corrupt or tampered ledger is a verdict (exit 1), never a usage error (2) nor a crash (3).

One real run (`assay run` with scripted models) is damaged in each way below, then every command
that reads a run is asked about it through `assay.cli.main`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import CorruptLedgerError
from assay.evidence.summary import summarize
from assay.ledger import HEAD_FILE, LEDGER_FILE, Ledger, Signer, verify_run
from assay.testing import TESTING_MODELS_ENV

FACTORY_TESTS = Path(__file__).resolve().parents[1] / "factory"
SPEC = "---\nname: greeter\n---\n# Greeter\n\nA library that greets people.\n"
CONFIG = '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n'


def _scripted(mp: pytest.MonkeyPatch, tmp: Path) -> None:
    mp.syspath_prepend(str(FACTORY_TESTS))
    mp.setenv(TESTING_MODELS_ENV, "scripted_app:models")
    mp.setenv("XDG_CONFIG_HOME", str(tmp / "config"))  # the default key, created and trusted


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A converged, sealed run made by the real `assay run`."""
    tmp = tmp_path_factory.mktemp("corrupt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(tmp / "home"))
        _scripted(mp, tmp)
        (tmp / "assay.toml").write_text(CONFIG)
        (tmp / "spec.md").write_text(SPEC)
        args = ["run", str(tmp / "spec.md"), "--config", str(tmp / "assay.toml"),
                "--runs-dir", str(tmp / "runs"), "--no-live"]  # fmt: skip
        assert main(args) == 0
    (run_dir,) = [p.parent for p in (tmp / "runs").glob(f"*/{LEDGER_FILE}")]
    assert verify_run(run_dir).ok
    yield run_dir


def _tamper(run: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit rows as an attacker with write access would: drop the triggers first."""
    with closing(sqlite3.connect(run / LEDGER_FILE)) as db:
        db.execute("DROP TRIGGER events_no_update")
        db.execute("DROP TRIGGER events_no_delete")
        for sql, args in statements:
            db.execute(sql, args)
        db.commit()


def _seq_of(run: Path, kind: str) -> int:
    with closing(sqlite3.connect(run / LEDGER_FILE)) as db:
        return int(db.execute("SELECT min(seq) FROM events WHERE kind = ?", (kind,)).fetchone()[0])


def garbage(run: Path) -> None:
    (run / LEDGER_FILE).write_bytes(b"this is not a database\n" * 200)


def truncated(run: Path) -> None:
    data = (run / LEDGER_FILE).read_bytes()
    (run / LEDGER_FILE).write_bytes(data[: len(data) // 2])


def not_a_ledger(run: Path) -> None:
    (run / LEDGER_FILE).unlink(missing_ok=True)
    with closing(sqlite3.connect(run / LEDGER_FILE)) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
        db.commit()


def edited_event(run: Path) -> None:
    seq = _seq_of(run, "security.review")
    with closing(sqlite3.connect(run / LEDGER_FILE)) as db:
        body = json.loads(db.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0])
    body["payload"]["verdict"] = "approve"
    _tamper(run, ("UPDATE events SET body = ? WHERE seq = ?", (json.dumps(body).encode(), seq)))


def garbled_event(run: Path) -> None:
    seq = _seq_of(run, "loop.decision")  # a kind `assay runs` reads
    _tamper(run, ("UPDATE events SET body = ? WHERE seq = ?", (b"\xff\xfe not json", seq)))


def tail_removed(run: Path) -> None:
    with closing(sqlite3.connect(run / LEDGER_FILE)) as db:
        last = int(db.execute("SELECT max(seq) FROM events").fetchone()[0])
    _tamper(run, ("DELETE FROM events WHERE seq >= ?", (last - 1,)))


UNREADABLE: list[Callable[[Path], None]] = [garbage, truncated, not_a_ledger, garbled_event]
"""Damage no command can read past."""
DAMAGE: list[Callable[[Path], None]] = [*UNREADABLE, edited_event, tail_removed]
"""Also readable damage, which only verification sees."""


@pytest.fixture
def damaged(
    request: pytest.FixtureRequest, finished_run: Path, tmp_path: Path
) -> tuple[Path, Path]:
    """A copy of the run, damaged as the test's parameter says, under ``<tmp>/runs``."""
    run = Path(shutil.copytree(finished_run, tmp_path / "runs" / finished_run.name))
    for leftover in run.glob(f"{LEDGER_FILE}-*"):  # WAL and shared memory, if any
        leftover.unlink()
    request.param(run)
    return tmp_path, run


def _ids(damage: Callable[[Path], None]) -> str:
    return damage.__name__


@pytest.mark.parametrize("damaged", DAMAGE, ids=_ids, indirect=True)
def test_verify(damaged: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    _tmp, run = damaged
    assert main(["verify", str(run)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "first bad:" in out, out


@pytest.mark.parametrize("damaged", DAMAGE, ids=_ids, indirect=True)
def test_report(
    damaged: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tmp, run = damaged
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "config"))
    assert main(["report", str(run), "--out", str(tmp / "bundle")]) == 1
    assert "does not verify, refusing to report" in capsys.readouterr().err
    assert not (tmp / "bundle").exists()


@pytest.mark.parametrize("damaged", DAMAGE, ids=_ids, indirect=True)
def test_approve(
    damaged: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tmp, run = damaged
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "approver-config"))
    assert main(["approve", str(run), "--as", "carol", "--reason", "checked"]) == 1
    assert "does not verify, refusing to approve" in capsys.readouterr().err


@pytest.mark.parametrize("damaged", DAMAGE, ids=_ids, indirect=True)
def test_resume(
    damaged: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Resuming would trust forged steps as done, and extend the forged chain: refused."""
    tmp, run = damaged
    _scripted(monkeypatch, tmp)
    assert main(["resume", str(run), "--no-live"]) == 1
    err = capsys.readouterr().err
    assert LEDGER_FILE in err and ("corrupt" in err or "does not verify" in err or "damaged" in err
                                   or "not an assay ledger" in err), err  # fmt: skip


@pytest.mark.parametrize("damaged", UNREADABLE, ids=_ids, indirect=True)
def test_runs(damaged: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """`assay runs` lists without verifying; a ledger it cannot read is listed as corrupt, with
    the reason, and is a verdict all the same (issue 12: it no longer aborts the listing)."""
    tmp, run = damaged
    assert main(["runs", "--runs-dir", str(tmp / "runs")]) == 1
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]
    (row,) = [r for r in rows if r[0] == run.name]
    assert row[3] == "corrupt" and LEDGER_FILE in row[-1]


def test_the_untouched_run_passes_every_command(
    finished_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Path(shutil.copytree(finished_run, tmp_path / "runs" / finished_run.name))
    _scripted(monkeypatch, finished_run.parents[1])  # the key that sealed it, trusted there
    assert main(["verify", str(run)]) == 0
    assert main(["runs", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert main(["resume", str(run), "--no-live"]) == 0
    assert main(["report", str(run), "--out", str(tmp_path / "bundle")]) == 0
    # Started from this OS account: approving it from the same account is refused (issue 12).
    assert main(["approve", str(run), "--as", "carol", "--reason", "checked"]) == 2


# -- the store ---------------------------------------------------------------------------------


def test_opening_a_foreign_sqlite_file_neither_writes_nor_passes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    not_a_ledger(run)
    before = (run / LEDGER_FILE).read_bytes()
    for create in (True, False):
        with pytest.raises(CorruptLedgerError, match="not an assay ledger"):
            Ledger.open(run, create=create)
    assert (run / LEDGER_FILE).read_bytes() == before


def test_a_damaged_event_body_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Ledger.open(run) as ledger:
        ledger.append("run.started", {}, step="run.started")
        ledger.append("message", {"n": 1}, step="spec")
    _tamper(run, ("UPDATE events SET body = ? WHERE seq = 2", (b"[1, 2]",)))
    with Ledger.open(run, create=False) as ledger:
        with pytest.raises(CorruptLedgerError, match="event 2 is damaged"):
            list(ledger.events())
        with pytest.raises(CorruptLedgerError, match="step 'spec'"):
            ledger.completed("spec")
        with pytest.raises(CorruptLedgerError, match="event 2"):
            ledger.head()


def test_open_with_check(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with Ledger.open(run) as ledger:
        for i in range(5):
            ledger.append("message", {"n": i}, step=f"s{i}")
        ledger.checkpoint(Signer.generate())
    Ledger.open(run, check=True).close()
    (run / HEAD_FILE).unlink()  # a kill between the checkpoint and its head file: resumable
    Ledger.open(run, check=True).close()
    body = json.dumps({"seq": 3}).encode()
    _tamper(run, ("UPDATE events SET body = ? WHERE seq = 3", (body,)))
    with pytest.raises(CorruptLedgerError, match=r"does not verify: event 3: "):
        Ledger.open(run, check=True)
    Ledger.open(run).close()  # reading without the check still works


def test_the_run_records_which_config_governed_it(finished_run: Path) -> None:
    """Issue 12, point 3: the config used is printed and recorded in the evidence."""
    config = finished_run.parents[1] / "assay.toml"
    with Ledger.open(finished_run, create=False) as ledger:
        started = next(ledger.events(kind="run.started")).payload
    assert started["config_file"] == str(config.resolve())
    assert started["config_sha256"] == hashlib.sha256(config.read_bytes()).hexdigest()
    with Ledger.open(finished_run, create=False) as ledger:
        summary = summarize(list(ledger.events()), run_id=ledger.run_id)
    assert summary.config_file == str(config.resolve()) and summary.config_sha256

"""`Ledger.subscribe`: listeners see each event once, after it is durable, and only new ones."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from assay.ledger import LEDGER_FILE, Event, Ledger, Signer


def _stored(run: Path, database: str | None) -> int:
    """Events another process would see now (a separate, read-only connection)."""
    if database is not None:
        import psycopg

        with psycopg.connect(database) as conn:
            found = conn.execute(
                "SELECT count(*) FROM assay_ledger_events WHERE run_id = %s", (run.name,)
            ).fetchone()
            assert found is not None
            return int(found[0])
    uri = f"{(run / LEDGER_FILE).resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])


def test_each_written_event_once_after_it_is_durable(
    tmp_path: Path, ledger_database: str | None
) -> None:
    run = tmp_path / "run"
    seen: list[tuple[str, int]] = []
    with Ledger.open(run, database=ledger_database) as ledger:
        ledger.subscribe(lambda e: seen.append((e.kind, _stored(run, ledger_database))))
        ledger.append("run.started", {}, step="run.started")
        ledger.append("message", {"n": 1})
        ledger.append("run.started", {"again": True}, step="run.started")  # idempotent: no call
        ledger.checkpoint(Signer.generate())
    assert seen == [("run.started", 1), ("message", 2), ("checkpoint", 3)]


def test_listeners_in_order_and_unsubscribe(tmp_path: Path) -> None:
    calls: list[str] = []
    with Ledger.open(tmp_path / "run") as ledger:
        ledger.subscribe(lambda e: calls.append(f"a{e.seq}"))
        stop = ledger.subscribe(lambda e: calls.append(f"b{e.seq}"))
        ledger.append("message", {})
        stop()
        stop()  # twice is harmless
        ledger.append("message", {})
    assert calls == ["a1", "b1", "a2"]


def test_a_failing_listener_reaches_the_caller_but_the_event_is_recorded(tmp_path: Path) -> None:
    def boom(event: Event) -> None:
        raise RuntimeError(f"listener failed on {event.seq}")

    with Ledger.open(tmp_path / "run") as ledger:
        ledger.subscribe(boom)
        with pytest.raises(RuntimeError, match="listener failed on 1"):
            ledger.append("message", {}, step="s")
        assert ledger.completed("s") is not None
        assert len(ledger) == 1

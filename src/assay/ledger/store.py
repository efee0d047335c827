"""The SQLite ledger of one run: append-only, hash-chained, durable before `append` returns."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from assay.errors import RunError, UserError
from assay.ledger.blobs import BlobStore
from assay.ledger.canonical import GENESIS, canonical, sha256_hex
from assay.ledger.event import Event
from assay.ledger.keys import Signer

__all__ = ["HEAD_FILE", "LEDGER_FILE", "Ledger", "checkpoint_statement"]

LEDGER_FILE = "ledger.sqlite"
HEAD_FILE = "head.json"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq  INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    step TEXT UNIQUE,
    body BLOB NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'ledger metadata is write-once'); END;
"""


def checkpoint_statement(run_id: str, seq: int, root: str) -> bytes:
    """The bytes a checkpoint signs: the run, the last event covered and its hash (the root)."""
    return canonical({"type": "assay.checkpoint/v1", "run_id": run_id, "seq": seq, "root": root})


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """The event log of one run folder. Use `Ledger.open`; close it (or use ``with``)."""

    __slots__ = ("_conn", "_lock", "blobs", "path", "run_dir", "run_id")

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, run_id: str) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LEDGER_FILE
        self.run_id = run_id
        self.blobs = BlobStore(run_dir / "blobs")
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, run_dir: Path, *, run_id: str | None = None, create: bool = True) -> Ledger:
        """Open the ledger in `run_dir`, creating folder and ledger unless `create` is False.

        `run_id` defaults to the folder's name; opening an existing ledger with a different
        `run_id` is an error.
        """
        path = run_dir / LEDGER_FILE
        if not path.is_file():
            if not create:
                raise UserError(f"no ledger at {path}: not a run folder")
            run_dir.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.executescript(_SCHEMA)
            stored = conn.execute("SELECT value FROM meta WHERE key='run_id'").fetchone()
            wanted = run_id or run_dir.resolve().name
            if stored is None:
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('run_id', ?)", (wanted,))
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
                stored = conn.execute("SELECT value FROM meta WHERE key='run_id'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise RunError(f"{path}: cannot open the ledger ({exc})") from None
        if run_id is not None and stored[0] != run_id:
            conn.close()
            raise UserError(f"{path} belongs to run '{stored[0]}', not '{run_id}'")
        return cls(run_dir, conn, str(stored[0]))

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        with self._lock:
            with contextlib.suppress(sqlite3.DatabaseError):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()

    def append(self, kind: str, payload: dict[str, Any], *, step: str | None = None) -> Event:
        """Append an event; it is committed to disk (fsync) before this returns.

        With `step` set, the call is idempotent: if an event with that step exists already it
        is returned unchanged and nothing is written (the first write wins).
        """
        if not kind:
            raise ValueError("an event needs a kind")
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    event = self._append_locked(kind, payload, step)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise RunError(f"{self.path}: cannot append to the ledger ({exc})") from None
        return event

    def _append_locked(self, kind: str, payload: dict[str, Any], step: str | None) -> Event:
        if step is not None:
            row = self._conn.execute(
                "SELECT body, hash FROM events WHERE step = ?", (step,)
            ).fetchone()
            if row is not None:
                return Event.from_body(row[0], row[1])
        head = self._conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        body = {
            "seq": seq, "run_id": self.run_id, "kind": kind, "time": _now(), "step": step,
            "payload": payload, "prev_hash": prev,
        }  # fmt: skip
        data = canonical(body)
        digest = sha256_hex(data)
        self._conn.execute(
            "INSERT INTO events (seq, kind, step, body, hash) VALUES (?, ?, ?, ?, ?)",
            (seq, kind, step, data, digest),
        )
        return Event.from_body(data, digest)

    def completed(self, step: str) -> Event | None:
        """The event recorded for `step`, or None when that step has not completed."""
        with self._lock:
            row = self._conn.execute(
                "SELECT body, hash FROM events WHERE step = ?", (step,)
            ).fetchone()
        return None if row is None else Event.from_body(row[0], row[1])

    def events(self, *, kind: str | None = None) -> Iterator[Event]:
        """Every event in order (optionally only one kind)."""
        for _seq, body, digest in self.rows(kind=kind):
            yield Event.from_body(body, digest)

    def rows(self, *, kind: str | None = None) -> Iterator[tuple[int, bytes, str]]:
        """Raw ``(seq, body, hash)`` rows in order, as stored (what `verify` checks)."""
        sql = "SELECT seq, body, hash FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY seq", args).fetchall()
        for seq, body, digest in rows:
            yield int(seq), bytes(body) if not isinstance(body, str) else body.encode(), str(digest)

    def head(self) -> Event | None:
        """The last event, or None for an empty ledger."""
        with self._lock:
            row = self._conn.execute(
                "SELECT body, hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return None if row is None else Event.from_body(row[0], row[1])

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def put_blob(self, data: bytes) -> str:
        """Store `data` content-addressed (fsynced); returns its sha256 hex digest."""
        return self.blobs.put(data)

    def get_blob(self, digest: str) -> bytes:
        """The bytes stored under `digest`; RunError when missing or altered."""
        return self.blobs.get(digest)

    def checkpoint(self, signer: Signer) -> Event:
        """Sign the current head and append a ``checkpoint`` event; also writes ``head.json``.

        The checkpoint covers every event before it. ``head.json`` (outside the database) holds
        the latest signed root so that deleting events from the end is detected by `verify`.
        """
        head = self.head()
        if head is None:
            raise RunError(f"{self.path}: nothing to checkpoint in an empty ledger")
        statement = checkpoint_statement(self.run_id, head.seq, head.hash)
        record = {"seq": head.seq, "root": head.hash, "signature": signer.sign(statement)}
        event = self.append("checkpoint", record)
        self._write_head(event, signer)
        return event

    def _write_head(self, event: Event, signer: Signer) -> None:
        statement = checkpoint_statement(self.run_id, event.seq, event.hash)
        data = {
            "run_id": self.run_id, "seq": event.seq, "root": event.hash,
            "signature": signer.sign(statement),
        }  # fmt: skip
        target = self.run_dir / HEAD_FILE
        tmp = target.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)

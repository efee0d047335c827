"""The SQLite ledger of one run: append-only, hash-chained, durable before `append` returns.

Damage is a verdict, not a usage error: a ledger file that SQLite cannot read (garbage, truncated,
malformed), that is not an assay ledger, or whose events do not decode raises
`CorruptLedgerError` (exit 1). Other database failures (locked, disk full, permissions) are
`RunError` (exit 3), as before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from assay.errors import AssayError, CorruptLedgerError, RunError, UserError
from assay.ledger.blobs import BlobStore
from assay.ledger.canonical import GENESIS, canonical, sha256_hex
from assay.ledger.event import Event
from assay.ledger.keys import Signer

__all__ = ["HEAD_FILE", "LEDGER_FILE", "Ledger", "Listener", "checkpoint_statement"]

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


Listener = Callable[[Event], None]
"""Called with each event right after it was durably appended (see `Ledger.subscribe`)."""

_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_TABLES = frozenset({"meta", "events"})


def _db_error(path: Path, doing: str, exc: sqlite3.DatabaseError) -> AssayError:
    """`CorruptLedgerError` when SQLite says the file is damaged, else `RunError`."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _CORRUPT_CODES:
        return CorruptLedgerError(f"{path}: the ledger is corrupt ({exc})")
    return RunError(f"{path}: cannot {doing} the ledger ({exc})")


def _event(path: Path, body: bytes, digest: str, where: str) -> Event:
    try:
        return Event.from_body(body, digest)
    except ValueError as exc:
        raise CorruptLedgerError(f"{path}: {where} is damaged ({exc})") from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """The event log of one run folder. Use `Ledger.open`; close it (or use ``with``)."""

    __slots__ = ("_conn", "_listeners", "_lock", "blobs", "path", "run_dir", "run_id")

    def __init__(self, run_dir: Path, conn: sqlite3.Connection, run_id: str) -> None:
        self.run_dir = run_dir
        self.path = run_dir / LEDGER_FILE
        self.run_id = run_id
        self.blobs = BlobStore(run_dir / "blobs")
        self._conn = conn
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    @classmethod
    def open(
        cls,
        run_dir: Path,
        *,
        run_id: str | None = None,
        create: bool = True,
        check: bool = False,
    ) -> Ledger:
        """Open the ledger in `run_dir`, creating folder and ledger unless `create` is False.

        `run_id` defaults to the folder's name; opening an existing ledger with a different
        `run_id` is an error. An existing file that is damaged or is not an assay ledger raises
        `CorruptLedgerError`; nothing is written to it. With `check`, so does a chain that does
        not verify (see `check`): use it before appending to a ledger written earlier.
        """
        path = run_dir / LEDGER_FILE
        if not path.is_file():
            if not create:
                raise UserError(f"no ledger at {path}: not a run folder")
            run_dir.mkdir(parents=True, exist_ok=True)
        existed = path.is_file() and path.stat().st_size > 0
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise _db_error(path, "open", exc) from None
        try:
            stored = _prepare(conn, path, existed, run_id or run_dir.resolve().name)
        except BaseException:
            conn.close()
            raise
        if run_id is not None and stored != run_id:
            conn.close()
            raise UserError(f"{path} belongs to run '{stored}', not '{run_id}'")
        ledger = cls(run_dir, conn, stored)
        if check:
            try:
                ledger.check()
            except BaseException:
                ledger.close()
                raise
        return ledger

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

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event appended from now on; returns an unsubscribe.

        A listener runs right after the event is durable (committed and fsynced), outside the
        ledger's lock, in subscription order, and only for events actually written: an
        idempotent `append` of a step already recorded calls nobody. What a listener raises
        reaches the caller of `append` (the event is recorded all the same).
        """
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def append(self, kind: str, payload: dict[str, Any], *, step: str | None = None) -> Event:
        """Append an event; it is committed to disk (fsync) before this returns.

        With `step` set, the call is idempotent: if an event with that step exists already it
        is returned unchanged and nothing is written (the first write wins). Listeners
        (`subscribe`) are called with each event written.
        """
        if not kind:
            raise ValueError("an event needs a kind")
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    event, written = self._append_locked(kind, payload, step)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise _db_error(self.path, "append to", exc) from None
        if written:
            for listener in list(self._listeners):
                listener(event)
        return event

    def _append_locked(
        self, kind: str, payload: dict[str, Any], step: str | None
    ) -> tuple[Event, bool]:
        if step is not None:
            row = self._conn.execute(
                "SELECT body, hash FROM events WHERE step = ?", (step,)
            ).fetchone()
            if row is not None:
                return _event(self.path, row[0], row[1], f"the event of step {step!r}"), False
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
        return Event.from_body(data, digest), True

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Every row of a read, with SQLite's failures translated."""
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _db_error(self.path, "read", exc) from None

    def completed(self, step: str) -> Event | None:
        """The event recorded for `step`, or None when that step has not completed."""
        rows = self._query("SELECT body, hash FROM events WHERE step = ?", (step,))
        if not rows:
            return None
        return _event(self.path, rows[0][0], rows[0][1], f"the event of step {step!r}")

    def events(self, *, kind: str | None = None) -> Iterator[Event]:
        """Every event in order (optionally only one kind); `CorruptLedgerError` on a bad one."""
        for seq, body, digest in self.rows(kind=kind):
            yield _event(self.path, body, digest, f"event {seq}")

    def rows(self, *, kind: str | None = None) -> Iterator[tuple[int, bytes, str]]:
        """Raw ``(seq, body, hash)`` rows in order, as stored (what `verify` checks)."""
        sql = "SELECT seq, body, hash FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        rows = self._query(sql + " ORDER BY seq", args)
        for seq, body, digest in rows:
            yield int(seq), bytes(body) if not isinstance(body, str) else body.encode(), str(digest)

    def head(self) -> Event | None:
        """The last event, or None for an empty ledger."""
        rows = self._query("SELECT seq, body, hash FROM events ORDER BY seq DESC LIMIT 1")
        if not rows:
            return None
        return _event(self.path, rows[0][1], rows[0][2], f"event {rows[0][0]}")

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    def check(self) -> None:
        """Raise `CorruptLedgerError` naming the first problem unless the chain is intact.

        Checks what `verify_run` checks of the events themselves: each hash, the sequence, the
        links, the run id, checkpoint signatures and, when there is one, the signed head
        (``head.json``). Not the blobs, and not that the run was sealed, nor that ``head.json``
        exists (a kill between a checkpoint and its head file leaves a resumable run).
        """
        from assay.ledger.verify import Verification, check_head, verify_chain

        result = Verification(target=self.run_dir)
        rows = list(self.rows())
        verify_chain(rows, result, run_id=self.run_id)
        head_file = self.run_dir / HEAD_FILE
        if head_file.is_file():
            hashes = {seq: digest for seq, _body, digest in rows}
            check_head(head_file, self.run_id, hashes, result, None)
        if result.problems:
            raise CorruptLedgerError(
                f"{self.path} does not verify: {result.problems[0]} (see `assay verify`)"
            )

    def put_blob(self, data: bytes) -> str:
        """Store `data` content-addressed (fsynced); returns its sha256 hex digest."""
        return self.blobs.put(data)

    def get_blob(self, digest: str) -> bytes:
        """The bytes stored under `digest`; RunError when missing or altered."""
        return self.blobs.get(digest)

    def checkpoint(self, signer: Signer, *, sealed_by: str | None = None) -> Event:
        """Sign the current head and append a ``checkpoint`` event; also writes ``head.json``.

        `sealed_by` names who sealed it when that is not the run itself (``assay report``).

        The checkpoint covers every event before it. ``head.json`` (outside the database) holds
        the latest signed root so that deleting events from the end is detected by `verify`.
        """
        head = self.head()
        if head is None:
            raise RunError(f"{self.path}: nothing to checkpoint in an empty ledger")
        statement = checkpoint_statement(self.run_id, head.seq, head.hash)
        record: dict[str, Any] = {
            "seq": head.seq, "root": head.hash, "signature": signer.sign(statement),
        }  # fmt: skip
        if sealed_by:
            record["sealed_by"] = sealed_by
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


def _check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """An existing ledger file must hold the ledger's tables (never create them in another file)."""
    names = {
        str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    missing = sorted(_TABLES - names)
    if missing:
        raise CorruptLedgerError(f"{path}: not an assay ledger (no {' or '.join(missing)} table)")


def _prepare(conn: sqlite3.Connection, path: Path, existed: bool, wanted: str) -> str:
    """Configure the connection, create the schema in a new file; returns the stored run id."""
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        if existed:  # before anything writes, even the journal mode
            _check_schema(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        stored = conn.execute("SELECT value FROM meta WHERE key='run_id'").fetchone()
        if stored is None:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('run_id', ?)", (wanted,))
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            stored = conn.execute("SELECT value FROM meta WHERE key='run_id'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _db_error(path, "open", exc) from None
    return str(stored[0])

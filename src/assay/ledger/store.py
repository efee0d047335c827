"""The ledger of one run: append-only, hash-chained, durable before `append` returns.

`Ledger` builds and chains the events; where the rows live is a `RowStore`, the seam between the
two. Two stores exist, with the same guarantees:

- `SqliteStore` (the default): ``ledger.sqlite`` in the run folder, one file per run;
- `assay.ledger.postgres.PostgresStore`: every run's events in one PostgreSQL database (a fleet's),
  selected with ``Ledger.open(run_dir, database="postgresql://…")``; the run folder then holds
  ``ledger.json`` naming the store, the run and the database's URL, beside ``blobs/`` and
  ``head.json`` as always, so every later ``Ledger.open(run_dir)`` finds the same database. A URL
  with a password is recorded redacted: such a folder is opened with the URL given again.

Each store refuses UPDATE and DELETE in the database itself (triggers), and appends in one
transaction that excludes every other writer of the run, so two processes appending to one run
never fork the chain. Tampering that gets past the triggers is caught by `check` and
`assay.ledger.verify`, which walk the rows the store returns.

Damage is a verdict, not a usage error: a ledger file that SQLite cannot read (garbage, truncated,
malformed), that is not an assay ledger, or whose events do not decode raises
`CorruptLedgerError` (exit 1). Other database failures (locked, disk full, permissions, a server
that does not answer) are `RunError` (exit 3), as before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from assay.errors import AssayError, CorruptLedgerError, RunError, UserError
from assay.fleet.database import Database
from assay.ledger.blobs import BlobStore
from assay.ledger.canonical import GENESIS, canonical, sha256_hex
from assay.ledger.event import Event
from assay.ledger.keys import Signer

__all__ = [
    "HEAD_FILE",
    "LEDGER_FILE",
    "STORE_FILE",
    "Ledger",
    "Listener",
    "MakeRow",
    "Row",
    "RowStore",
    "SqliteStore",
    "StoreRecord",
    "checkpoint_statement",
    "is_run_folder",
    "read_store_file",
    "run_database",
]

LEDGER_FILE = "ledger.sqlite"
HEAD_FILE = "head.json"
STORE_FILE = "ledger.json"
"""In a run folder whose events live in a database server: which store, and the run's id."""
SCHEMA_VERSION = 1

Row = tuple[int, bytes, str]
"""``(seq, body, hash)`` as stored: what `verify_chain` checks."""
MakeRow = Callable[[int, str], tuple[bytes, str]]
"""Given the next seq and the previous hash, the new event's canonical body and its hash."""

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


class RowStore(Protocol):
    """Where one run's event rows live. Every method may raise `RunError` or
    `CorruptLedgerError`; none updates or deletes a row."""

    run_id: str
    where: str
    """What messages name: a file, or a database (password redacted) and the run."""

    def append(self, kind: str, step: str | None, make: MakeRow) -> tuple[bytes, str, bool]:
        """In one transaction that excludes every other writer of this run: when `step` is
        recorded already, its ``(body, hash, False)``; else read the head, call `make` with the
        next seq and the head's hash (`GENESIS` for the first), insert the row and commit durably:
        ``(body, hash, True)``. What `make` raises rolls the transaction back and propagates."""
        ...

    def by_step(self, step: str) -> tuple[bytes, str] | None:
        """The body and hash recorded for `step`, or None."""
        ...

    def rows(self, kind: str | None = None) -> list[Row]:
        """Every row in seq order (optionally only one kind)."""
        ...

    def last(self) -> Row | None:
        """The row with the highest seq, or None when empty."""
        ...

    def count(self) -> int:
        """How many rows there are."""
        ...

    def close(self) -> None:
        """Release the connection (idempotent)."""
        ...


def is_run_folder(path: Path) -> bool:
    """Whether `path` holds a run's ledger: ``ledger.sqlite``, or ``ledger.json`` naming its
    database. What every command that looks for runs asks."""
    return (path / LEDGER_FILE).is_file() or (path / STORE_FILE).is_file()


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """What a run folder's ``ledger.json`` says about where its events live."""

    store: str
    run_id: str
    database: str | None = None
    """The database's URL as given when the run was created, any password as ``***``; None in
    a record written before URLs were recorded."""
    redacted: bool = False
    """The URL had a password, which is not recorded: the URL must be given to open the run."""


def read_store_file(run_dir: Path) -> StoreRecord | None:
    """The run folder's ``ledger.json``, or None when there is none."""
    path = run_dir / STORE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        store, run_id = data["store"], data["run_id"]
        database, redacted = data.get("database"), data.get("redacted", False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise CorruptLedgerError(f"{path}: not a valid ledger store record") from None
    if (
        not isinstance(store, str)
        or not isinstance(run_id, str)
        or not run_id
        or not isinstance(database, str | None)
        or not isinstance(redacted, bool)
    ):
        raise CorruptLedgerError(f"{path}: not a valid ledger store record")
    return StoreRecord(store, run_id, database, redacted)


def _write_store_file(run_dir: Path, run_id: str, database: Database) -> None:
    record: dict[str, Any] = {
        "store": database.kind, "run_id": run_id, "database": database.redacted(),
    }  # fmt: skip
    if database.has_password:
        record["redacted"] = True
    _replace_file(run_dir / STORE_FILE, json.dumps(record, indent=2))


def run_database(
    run_dir: Path, record: StoreRecord, given: Database | str | None = None
) -> Database:
    """The database that holds the events of the run whose ``ledger.json`` is `record`: `given`
    when it is one (workers may reach one server under different names), else the URL recorded.
    `UserError` when neither will do: a SQLite URL, a record without a URL or with a redacted
    one, an unknown store."""
    where = run_dir / STORE_FILE
    if record.store != "postgresql":
        raise UserError(f"{where}: unknown ledger store {record.store!r}")
    db = Database.parse(given) if isinstance(given, str) else given
    if db is not None:
        if db.kind != "postgresql":
            raise UserError(
                f"{run_dir}: this run's ledger is in a {record.store} database ({STORE_FILE}), "
                f"not {db}; open it with that database's URL"
            )
        return db
    if record.database is None:
        raise UserError(
            f"{run_dir}: this run's ledger is in a {record.store} database ({STORE_FILE}); "
            "open it with that database's URL"
        )
    if record.redacted:
        raise UserError(
            f"{run_dir}: this run's ledger is in {record.database} ({STORE_FILE}), whose "
            "password is not recorded: open it with the full URL (or keep the password in "
            "PGPASSWORD or ~/.pgpass and the URL without it)"
        )
    try:
        return Database.parse(record.database)
    except ValueError as exc:
        raise CorruptLedgerError(f"{where}: not a valid database URL ({exc})") from None


def _replace_file(target: Path, text: str) -> None:
    """Write `text` to `target` atomically and durably. The temporary file's name is unique:
    two processes opening one run at once (fleet workers) each rename their own."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _event(where: str, body: bytes, digest: str, what: str) -> Event:
    try:
        return Event.from_body(body, digest)
    except ValueError as exc:
        raise CorruptLedgerError(f"{where}: {what} is damaged ({exc})") from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """The event log of one run folder. Use `Ledger.open`; close it (or use ``with``)."""

    __slots__ = ("_listeners", "_lock", "blobs", "database", "path", "run_dir", "run_id", "store")

    def __init__(
        self, run_dir: Path, store: RowStore, path: Path, database: Database | None = None
    ) -> None:
        self.run_dir = run_dir
        self.database = database
        """The PostgreSQL database that holds the events; None for ``ledger.sqlite``."""
        self.path = path
        """The run folder's file that holds or names the ledger (``ledger.sqlite``/``.json``)."""
        self.run_id = store.run_id
        self.blobs = BlobStore(run_dir / "blobs")
        self.store = store
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
        database: Database | str | None = None,
    ) -> Ledger:
        """Open the ledger in `run_dir`, creating folder and ledger unless `create` is False.

        `run_id` defaults to the folder's name; opening an existing ledger with a different
        `run_id` is an error. An existing file that is damaged or is not an assay ledger raises
        `CorruptLedgerError`; nothing is written to it. With `check`, so does a chain that does
        not verify (see `check`): use it before appending to a ledger written earlier.

        `database` picks the store: None or a SQLite URL, the run folder's ``ledger.sqlite``
        (each run keeps its own file: the SQLite path of a fleet is its system database, not
        the ledger); a PostgreSQL URL, that database (`assay.ledger.postgres`), whose URL a new
        run folder records in ``ledger.json``. A folder whose ``ledger.json`` names its database
        opens that one when `database` is None (see `run_database`). A run folder is bound to
        its store: opening it with the other one is a `UserError`.
        """
        db = Database.parse(database) if isinstance(database, str) else database
        recorded = read_store_file(run_dir)
        if recorded is not None:
            db = run_database(run_dir, recorded, db)
        if db is not None and db.kind == "postgresql":
            from assay.ledger.postgres import PostgresStore

            if (run_dir / LEDGER_FILE).is_file():
                raise UserError(f"{run_dir}: this run's ledger is {LEDGER_FILE}, not {db}")
            if recorded is not None and run_id is not None and recorded.run_id != run_id:
                raise UserError(
                    f"{run_dir / STORE_FILE} belongs to run '{recorded.run_id}', not '{run_id}'"
                )
            wanted = recorded.run_id if recorded else (run_id or run_dir.resolve().name)
            if not create and not run_dir.is_dir():
                raise UserError(f"no run folder at {run_dir}")
            store: RowStore = PostgresStore.open(db, wanted, create=create)
            if recorded is None and create:
                try:
                    run_dir.mkdir(parents=True, exist_ok=True)
                    _write_store_file(run_dir, wanted, db)
                except OSError as exc:
                    store.close()
                    raise RunError(f"{run_dir / STORE_FILE}: cannot write ({exc})") from None
            path = run_dir / STORE_FILE
        else:
            db = None
            store = SqliteStore.open(run_dir, run_id=run_id, create=create)
            path = store.path
        ledger = cls(run_dir, store, path, db)
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
        """Close the store (SQLite checkpoints its WAL into the main file first)."""
        with self._lock:
            self.store.close()

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

        def make(seq: int, prev: str) -> tuple[bytes, str]:
            body = {
                "seq": seq, "run_id": self.run_id, "kind": kind, "time": _now(), "step": step,
                "payload": payload, "prev_hash": prev,
            }  # fmt: skip
            data = canonical(body)
            return data, sha256_hex(data)

        with self._lock:
            data, digest, written = self.store.append(kind, step, make)
        if not written:
            return _event(self.store.where, data, digest, f"the event of step {step!r}")
        event = Event.from_body(data, digest)
        for listener in list(self._listeners):
            listener(event)
        return event

    def completed(self, step: str) -> Event | None:
        """The event recorded for `step`, or None when that step has not completed."""
        with self._lock:
            found = self.store.by_step(step)
        if found is None:
            return None
        return _event(self.store.where, found[0], found[1], f"the event of step {step!r}")

    def events(self, *, kind: str | None = None) -> Iterator[Event]:
        """Every event in order (optionally only one kind); `CorruptLedgerError` on a bad one."""
        for seq, body, digest in self.rows(kind=kind):
            yield _event(self.store.where, body, digest, f"event {seq}")

    def rows(self, *, kind: str | None = None) -> Iterator[Row]:
        """Raw ``(seq, body, hash)`` rows in order, as stored (what `verify` checks)."""
        with self._lock:
            rows = self.store.rows(kind)
        yield from rows

    def head(self) -> Event | None:
        """The last event, or None for an empty ledger."""
        with self._lock:
            row = self.store.last()
        if row is None:
            return None
        return _event(self.store.where, row[1], row[2], f"event {row[0]}")

    def __len__(self) -> int:
        with self._lock:
            return self.store.count()

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
                f"{self.store.where} does not verify: {result.problems[0]} (see `assay verify`)"
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
            raise RunError(f"{self.store.where}: nothing to checkpoint in an empty ledger")
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
        _replace_file(self.run_dir / HEAD_FILE, json.dumps(data, indent=2))


_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_TABLES = frozenset({"meta", "events"})


def _db_error(path: Path, doing: str, exc: sqlite3.DatabaseError) -> AssayError:
    """`CorruptLedgerError` when SQLite says the file is damaged, else `RunError`."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _CORRUPT_CODES:
        return CorruptLedgerError(f"{path}: the ledger is corrupt ({exc})")
    return RunError(f"{path}: cannot {doing} the ledger ({exc})")


class SqliteStore:
    """One run's rows in ``ledger.sqlite`` in its folder (WAL, ``synchronous=FULL``).

    An append is a ``BEGIN IMMEDIATE`` transaction: SQLite's write lock on the file excludes
    every other writer, in this process or another, from reading the head to committing."""

    __slots__ = ("_closed", "conn", "path", "run_id", "where")

    def __init__(self, path: Path, conn: sqlite3.Connection, run_id: str) -> None:
        self.path = path
        self.where = str(path)
        self.run_id = run_id
        self.conn = conn
        self._closed = False

    @classmethod
    def open(cls, run_dir: Path, *, run_id: str | None, create: bool) -> SqliteStore:
        """Open (or create) ``ledger.sqlite`` in `run_dir`; see `Ledger.open`."""
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
        return cls(path, conn, stored)

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(sqlite3.DatabaseError):
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()

    def append(self, kind: str, step: str | None, make: MakeRow) -> tuple[bytes, str, bool]:
        """See `RowStore.append`."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = self._append_locked(kind, step, make)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, "append to", exc) from None
        return result

    def _append_locked(self, kind: str, step: str | None, make: MakeRow) -> tuple[bytes, str, bool]:
        if step is not None:
            row = self.conn.execute(
                "SELECT body, hash FROM events WHERE step = ?", (step,)
            ).fetchone()
            if row is not None:
                return _bytes(row[0]), str(row[1]), False
        head = self.conn.execute(
            "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
        data, digest = make(seq, prev)
        self.conn.execute(
            "INSERT INTO events (seq, kind, step, body, hash) VALUES (?, ?, ?, ?, ?)",
            (seq, kind, step, data, digest),
        )
        return data, digest, True

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        """Every row of a read, with SQLite's failures translated."""
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise _db_error(self.path, "read", exc) from None

    def by_step(self, step: str) -> tuple[bytes, str] | None:
        """See `RowStore.by_step`."""
        rows = self._query("SELECT body, hash FROM events WHERE step = ?", (step,))
        return (_bytes(rows[0][0]), str(rows[0][1])) if rows else None

    def rows(self, kind: str | None = None) -> list[Row]:
        """See `RowStore.rows`."""
        sql = "SELECT seq, body, hash FROM events"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [(int(s), _bytes(b), str(h)) for s, b, h in self._query(sql + " ORDER BY seq", args)]

    def last(self) -> Row | None:
        """See `RowStore.last`."""
        rows = self._query("SELECT seq, body, hash FROM events ORDER BY seq DESC LIMIT 1")
        return (int(rows[0][0]), _bytes(rows[0][1]), str(rows[0][2])) if rows else None

    def count(self) -> int:
        """See `RowStore.count`."""
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])


def _bytes(value: Any) -> bytes:
    """A body as stored: SQLite hands back TEXT when someone wrote one there."""
    return value.encode() if isinstance(value, str) else bytes(value)


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

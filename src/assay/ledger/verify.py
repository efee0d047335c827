"""Offline verification of a run's ledger: the hash chain, the blobs and the signed checkpoints.

`verify_chain` walks ``(position, body, hash)`` rows from any source (the SQLite ledger, the
PostgreSQL store or a bundle's ``ledger.jsonl``) and reports every problem it finds, first one
first, so the first problem names the culprit: the first event that was changed, removed,
inserted or reordered.

A ledger file that cannot be read at all (garbage, truncated, not an assay ledger) is a failed
verification too: `verify_run` reports it as a problem of ``ledger.sqlite``, and `read_rows`
raises `CorruptLedgerError` (exit 1), never a usage error.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import CorruptLedgerError, UserError
from assay.fleet.database import Database
from assay.ledger.blobs import BlobStore, is_digest
from assay.ledger.canonical import GENESIS, sha256_hex
from assay.ledger.event import Event
from assay.ledger.keys import verify_signature
from assay.ledger.store import (
    HEAD_FILE,
    LEDGER_FILE,
    STORE_FILE,
    StoreRecord,
    checkpoint_statement,
    read_store_file,
    run_database,
)

__all__ = [
    "NEVER_SEALED",
    "Problem",
    "Verification",
    "blob_refs",
    "read_rows",
    "read_run_rows",
    "verify_chain",
    "verify_run",
]

_MAX_PROBLEMS = 100

NEVER_SEALED = "no signed checkpoint: the ledger was never sealed"
"""The one problem `assay report` can mend: it signs a checkpoint over what verified."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that failed to verify: an event (by seq) or a file, and why."""

    message: str
    seq: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = f"event {self.seq}" if self.seq is not None else (self.file or "ledger")
        return f"{where}: {self.message}"


@dataclass(slots=True)
class Verification:
    """The outcome of verifying a run or a bundle."""

    target: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    events: int = 0
    checkpoints: int = 0
    key_ids: set[str] = field(default_factory=set)
    last_checkpoint_seq: int = 0
    head: str = GENESIS
    """Hash of the last event read."""

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.problems

    @property
    def unsealed_tail(self) -> bool:
        """Whether events come after the last signed checkpoint (or none was ever signed)."""
        return self.events > self.last_checkpoint_seq

    def fail(self, message: str, *, seq: int | None = None, file: str | None = None) -> None:
        """Record a problem (the list is capped; the first problems are the ones that matter)."""
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(message, seq, file))


def blob_refs(payload: Any) -> Iterator[tuple[str, str]]:
    """``(key, digest)`` for every payload value under a key ending in ``_blob`` (nested too)."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if str(key).endswith("_blob") and isinstance(value, str):
                yield str(key), value
            else:
                yield from blob_refs(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from blob_refs(item)


def verify_chain(
    rows: Iterable[tuple[int, bytes, str]],
    result: Verification,
    *,
    run_id: str | None = None,
    blobs: BlobStore | None = None,
    trusted: set[str] | None = None,
) -> None:
    """Check each row's hash, sequence, link to its predecessor and any checkpoint signature."""
    expected, prev = 1, GENESIS
    for position, body, digest in rows:
        result.events += 1
        if sha256_hex(body) != digest:
            result.fail("content does not match its hash (the event was modified)", seq=position)
        try:
            event = Event.from_body(body, digest)
        except ValueError as exc:
            result.fail(str(exc), seq=position)
            expected, prev = position + 1, digest
            continue
        if event.seq != position:
            result.fail(f"holds event {event.seq} (events were reordered)", seq=position)
        elif position != expected:
            result.fail(f"events {expected}..{position - 1} are missing", seq=position)
        if event.prev_hash != prev:
            result.fail(
                "prev_hash does not match the previous event "
                "(an event before it was changed, removed, inserted or reordered)",
                seq=position,
            )
        if run_id is not None and event.run_id != run_id:
            result.fail(f"belongs to run '{event.run_id}', not '{run_id}'", seq=position)
        if event.kind == "checkpoint":
            _check_checkpoint(event, prev, result, trusted)
        if blobs is not None:
            for key, ref in blob_refs(event.payload):
                if not is_digest(ref) or ref not in blobs:
                    result.fail(f"'{key}' refers to blob {ref!r}, which is missing", seq=position)
        expected, prev = position + 1, digest
    result.head = prev


def _check_checkpoint(
    event: Event, prev: str, result: Verification, trusted: set[str] | None
) -> None:
    p = event.payload
    if p.get("seq") != event.seq - 1 or p.get("root") != prev:
        result.fail("checkpoint does not cover the event before it", seq=event.seq)
        return
    problem = verify_signature(
        checkpoint_statement(event.run_id, event.seq - 1, prev), p.get("signature")
    )
    if problem:
        result.fail(f"checkpoint signature: {problem}", seq=event.seq)
        return
    keyid = str(p["signature"]["keyid"])
    if trusted is not None and keyid not in trusted:
        result.fail(f"checkpoint signed by untrusted key {keyid}", seq=event.seq)
    result.key_ids.add(keyid)
    result.checkpoints += 1
    result.last_checkpoint_seq = event.seq


_CORRUPT_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


class _Unreadable(Exception):
    """The ledger file cannot be read as an assay ledger; the message says why."""


def _read(path: Path) -> tuple[str, list[tuple[int, bytes, str]]]:
    try:
        # Read-only, and with no write-ahead log to read, immutable: nothing is written beside
        # the ledger (no -shm/-wal), so a copy on read-only media verifies too. A crashed run's
        # log still holds its last events: then it is read, which needs SQLite's shared memory.
        wal = path.with_name(path.name + "-wal")
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True)
        try:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
            missing = sorted({"meta", "events"} - {str(t[0]) for t in tables})
            if missing:
                raise _Unreadable(f"not an assay ledger (no {' or '.join(missing)} table)")
            meta = conn.execute("SELECT value FROM meta WHERE key='run_id'").fetchone()
            rows = conn.execute("SELECT seq, body, hash FROM events ORDER BY seq").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", 0) & 0xFF in _CORRUPT_CODES:
            raise _Unreadable(f"not a readable assay ledger ({exc})") from None
        raise UserError(f"{path}: cannot read the ledger ({exc})") from None
    run_id = str(meta[0]) if meta else path.parent.name
    return run_id, [
        (int(s), b.encode() if isinstance(b, str) else bytes(b), str(h)) for s, b, h in rows
    ]


def read_rows(path: Path) -> tuple[str, list[tuple[int, bytes, str]]]:
    """The run id and every ``(seq, body, hash)`` row of a ledger file, opened read-only.

    `CorruptLedgerError` when the file is not a readable assay ledger.
    """
    try:
        return _read(path)
    except _Unreadable as exc:
        raise CorruptLedgerError(f"{path}: {exc}") from None


def read_run_rows(
    run_dir: Path, *, database: Database | str | None = None
) -> tuple[str, list[tuple[int, bytes, str]]]:
    """The run id and every ``(seq, body, hash)`` row of a run folder's ledger, from its store
    (``ledger.sqlite``, or the database its ``ledger.json`` names: `database` when given), read
    in one snapshot and never written. `CorruptLedgerError` when they cannot be read as a
    ledger, `UserError` for a folder that is not a run."""
    recorded = read_store_file(run_dir)
    if recorded is None:
        return read_rows(_sqlite_path(run_dir))
    found = _read_server(run_dir, recorded, database)
    if found is None:
        raise CorruptLedgerError(
            f"{run_dir / STORE_FILE}: the database holds no ledger for run '{recorded.run_id}'"
        )
    return recorded.run_id, found


def _sqlite_path(run_dir: Path) -> Path:
    path = run_dir / LEDGER_FILE
    if not path.is_file():
        raise UserError(f"no ledger at {path}: not a run folder")
    return path


def verify_run(
    run_dir: Path, *, trusted: set[str] | None = None, database: Database | str | None = None
) -> Verification:
    """Verify a run folder: chain, blobs, checkpoint signatures and the signed head.

    The events are read from the run's store: ``ledger.sqlite`` in the folder, or the
    PostgreSQL database the folder's ``ledger.json`` names (`database` when given, else the URL
    recorded there; see `assay.ledger.store.run_database`).
    """
    recorded = read_store_file(run_dir)
    result = Verification(target=run_dir)
    if recorded is not None:
        run_id = recorded.run_id
        found = _read_server(run_dir, recorded, database)
        if found is None:
            result.fail(f"the database holds no ledger for run '{run_id}'", file=STORE_FILE)
            return result
        rows = found
    else:
        try:
            run_id, rows = _read(_sqlite_path(run_dir))
        except _Unreadable as exc:
            result.fail(str(exc), file=LEDGER_FILE)
            return result
    blobs = BlobStore(run_dir / "blobs")
    verify_chain(rows, result, run_id=run_id, blobs=blobs, trusted=trusted)
    for blob in blobs:
        if sha256_hex(blob.read_bytes()) != blob.name:
            result.fail("content does not match its name (the blob was modified)", file=str(blob))
    hashes = {seq: digest for seq, _body, digest in rows}
    check_head(run_dir / HEAD_FILE, run_id, hashes, result, trusted)
    finish(result)
    return result


def _read_server(
    run_dir: Path, recorded: StoreRecord, database: Database | str | None
) -> list[tuple[int, bytes, str]] | None:
    """The rows of a run whose ledger lives in a database server (None: it holds no such run)."""
    db = run_database(run_dir, recorded, database)
    from assay.ledger.postgres import read_run

    return read_run(db, recorded.run_id)


def check_head(
    head_file: Path,
    run_id: str,
    hashes: dict[int, str],
    result: Verification,
    trusted: set[str] | None,
) -> None:
    """Check the signed head record: it must name an event that exists with that hash."""
    name = head_file.name
    if not head_file.is_file():
        if result.checkpoints:
            result.fail("missing: the signed head of the ledger is gone", file=name)
        return
    try:
        head = json.loads(head_file.read_text(encoding="utf-8"))
        seq, root = int(head["seq"]), str(head["root"])
        signature = head["signature"]
    except (OSError, ValueError, KeyError, TypeError):
        result.fail("not a valid head record", file=name)
        return
    problem = verify_signature(checkpoint_statement(run_id, seq, root), signature)
    if problem:
        result.fail(problem, file=name)
    elif trusted is not None and signature["keyid"] not in trusted:
        result.fail(f"signed by untrusted key {signature['keyid']}", file=name)
    if seq not in hashes:
        result.fail(f"names event {seq}, which is missing (events were removed)", file=name)
    elif hashes[seq] != root:
        result.fail(f"names event {seq} with a different hash", file=name)


def finish(result: Verification) -> None:
    """Add the warnings and problems that depend on the whole walk."""
    if result.events == 0:
        result.fail("the ledger holds no events")
    elif result.checkpoints == 0:
        result.fail(NEVER_SEALED)
    elif result.last_checkpoint_seq < result.events:
        result.warnings.append(
            f"events {result.last_checkpoint_seq + 1}..{result.events} come after the last "
            "signed checkpoint"
        )
    if result.key_ids:
        result.warnings.append("signed by key id(s): " + ", ".join(sorted(result.key_ids)))

"""The tamper-evident run ledger. This docstring is the contract the factory writes against.

A run lives in ``runs/<run_id>/``:

- ``ledger.sqlite``: the events (SQLite, WAL, ``synchronous=FULL``); triggers refuse UPDATE and
  DELETE, and the API has neither;
- ``blobs/``: content-addressed blobs (sha256 hex) such as full prompts;
- ``head.json``: the latest signed checkpoint root, kept outside the database so that removing
  events from the end is detected;
- ``workspace/``: the generated project, a git repository (written by the factory).

Or the events live in a PostgreSQL database shared by a fleet (``Ledger.open(run_dir,
database="postgresql://…")``, the ``fleet`` extra): the folder then holds ``ledger.json`` naming
that store and its URL instead of ``ledger.sqlite``, with the same triggers, chain and
verification; later opens and ``verify_run(run_dir)`` find the database from it (`is_run_folder`
tells either kind of run folder); see `assay.ledger.store`.

Usage::

    with Ledger.open(run_dir) as ledger:              # creates it if absent
        ev = ledger.append("run.started", {...})      # durable (committed, fsynced) on return
        ledger.append("gate.result", {...}, step="iter-1/gates")  # idempotent per step
        if ledger.completed("iter-1/gates"): ...      # resume: skip what is done
        digest = ledger.put_blob(prompt.encode())     # -> sha256 hex; get_blob(digest)
        ledger.checkpoint(load_or_create_signer())    # sign the head; do it when a run ends

Each `Event` has ``seq, run_id, kind, time, step, payload, prev_hash, hash``; ``hash`` is the
SHA-256 of the RFC 8785 canonical JSON of the other fields, and ``prev_hash`` is the previous
event's hash (`GENESIS` for the first). Payloads must be JSON (no NaN, integers within 2**53).

Conventions the report and verifier rely on (see ``assay.ledger.kinds``): a payload key ending in
``_blob`` holds the digest of a blob that must exist (e.g. ``prompt_blob``); a run is sealed by a
``checkpoint`` event, which `verify_run` requires.
"""

from __future__ import annotations

from assay.ledger.blobs import BlobStore
from assay.ledger.canonical import GENESIS, canonical, sha256_hex
from assay.ledger.event import Event
from assay.ledger.keyring import load_or_create_signer
from assay.ledger.keys import Signer, default_key_path, verify_signature
from assay.ledger.store import HEAD_FILE, LEDGER_FILE, STORE_FILE, Ledger, is_run_folder
from assay.ledger.verify import Problem, Verification, verify_chain, verify_run

__all__ = [
    "GENESIS",
    "HEAD_FILE",
    "LEDGER_FILE",
    "STORE_FILE",
    "BlobStore",
    "Event",
    "Ledger",
    "Problem",
    "Signer",
    "Verification",
    "canonical",
    "default_key_path",
    "is_run_folder",
    "load_or_create_signer",
    "sha256_hex",
    "verify_chain",
    "verify_run",
    "verify_signature",
]

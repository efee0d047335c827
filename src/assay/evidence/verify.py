"""`assay verify`: check a bundle or a run offline and name the first bad file or event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assay.errors import UserError
from assay.evidence.dsse import open_envelope
from assay.evidence.manifest import MANIFEST, MANIFEST_SIG, bundle_files, file_digest
from assay.evidence.provenance import SLSA_PROVENANCE_V1, STATEMENT_V1
from assay.ledger import HEAD_FILE, BlobStore, is_run_folder, sha256_hex, verify_run
from assay.ledger.keys import verify_signature
from assay.ledger.verify import Verification, check_head, finish, verify_chain

__all__ = ["verify_bundle", "verify_target"]


def verify_target(target: Path, *, trusted: set[str] | None = None) -> Verification:
    """Verify a bundle folder (has manifest.json) or a run folder (`is_run_folder`)."""
    if (target / MANIFEST).is_file():
        return verify_bundle(target, trusted=trusted)
    if is_run_folder(target):
        return verify_run(target, trusted=trusted)
    raise UserError(f"{target} is neither an evidence bundle nor a run folder")


def _load_manifest(root: Path, result: Verification, trusted: set[str] | None) -> dict[str, Any]:
    data = (root / MANIFEST).read_bytes()
    try:
        record = json.loads((root / MANIFEST_SIG).read_text())
    except (OSError, ValueError):
        result.fail("missing or not JSON: the manifest is unsigned", file=MANIFEST_SIG)
        record = None
    if record is not None:
        problem = verify_signature(data, record)
        if problem:
            result.fail(f"{problem} over {MANIFEST}", file=MANIFEST_SIG)
        elif trusted is not None and record.get("keyid") not in trusted:
            result.fail(f"signed by untrusted key {record.get('keyid')}", file=MANIFEST_SIG)
        else:
            result.key_ids.add(str(record["keyid"]))
    try:
        manifest = json.loads(data)
        files = manifest["files"]
        assert isinstance(files, dict)
    except (ValueError, KeyError, AssertionError):
        result.fail("not a valid manifest", file=MANIFEST)
        return {"files": {}}
    return dict(manifest)


def _check_files(root: Path, files: dict[str, Any], result: Verification) -> None:
    present = bundle_files(root)
    for name in present:
        entry = files.get(name)
        if entry is None:
            result.fail("not listed in the manifest (a file was added)", file=name)
        elif not isinstance(entry, dict) or file_digest(root / name) != entry.get("sha256"):
            result.fail("digest does not match the manifest (the file was changed)", file=name)
    for name in sorted(set(files) - set(present)):
        result.fail("listed in the manifest but missing", file=name)


_PREFIX = b'{"hash":"'


def _ledger_rows(path: Path, result: Verification) -> list[tuple[int, bytes, str]]:
    """Split each line into the hashed body and the hash, without re-serialising anything.

    A line is the RFC 8785 form of the event with its hash, and ``hash`` sorts first, so the
    line is ``{"hash":"<64 hex>",`` followed by the rest of the body's canonical bytes.
    """
    rows = []
    end = len(_PREFIX) + 64
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if line.startswith(_PREFIX) and line[end : end + 2] == b'",':
            digest, body = (
                line[len(_PREFIX) : end].decode("ascii", "replace"),
                b"{" + line[end + 2 :],
            )
        else:
            result.fail("line is not a canonical ledger event", seq=number)
            digest, body = "", line
        rows.append((number, body, digest))
    return rows


def _check_provenance(root: Path, result: Verification, keys: dict[str, str]) -> None:
    name = "provenance.intoto.dsse.json"
    if not (root / name).is_file():
        result.fail("missing", file=name)
        return
    statement, problem = open_envelope((root / name).read_text(), keys)
    if problem:
        result.fail(f"DSSE: {problem}", file=name)
        return
    if (
        not isinstance(statement, dict)
        or statement.get("_type") != STATEMENT_V1
        or statement.get("predicateType") != SLSA_PROVENANCE_V1
        or not statement.get("subject")
    ):
        result.fail("not an in-toto Statement v1 with SLSA provenance v1", file=name)


def verify_bundle(root: Path, *, trusted: set[str] | None = None) -> Verification:
    """Manifest signature, every file's digest, the ledger chain, its head and the provenance."""
    result = Verification(target=root)
    manifest = _load_manifest(root, result, trusted)
    _check_files(root, manifest["files"], result)
    ledger = root / "ledger.jsonl"
    if not ledger.is_file():
        result.fail("missing", file="ledger.jsonl")
        return result
    rows = _ledger_rows(ledger, result)
    run_id = str(manifest.get("run_id", ""))
    verify_chain(
        rows, result, run_id=run_id or None, blobs=BlobStore(root / "blobs"), trusted=trusted
    )
    hashes = {n: sha256_hex(b) if d == "" else d for n, b, d in rows}
    check_head(root / HEAD_FILE, run_id, hashes, result, trusted)
    stated = manifest.get("ledger", {})
    if rows and (stated.get("seq") != rows[-1][0] or stated.get("hash") != rows[-1][2]):
        result.fail("the manifest's ledger head is not the last event", file="ledger.jsonl")
    keys = {}
    try:
        record = json.loads((root / MANIFEST_SIG).read_text())
        keys[str(record["keyid"])] = str(record["public_key"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    _check_provenance(root, result, keys)
    finish(result)
    return result

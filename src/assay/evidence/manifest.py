"""The bundle manifest: the SHA-256 of every file in the bundle, signed."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

from assay.ledger import Signer

__all__ = ["MANIFEST", "MANIFEST_SIG", "bundle_files", "file_digest", "write_manifest"]

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig.json"


def bundle_files(root: Path) -> list[str]:
    """Every file under `root` except the manifest and its signature, relative and sorted."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.relative_to(root).as_posix() not in (MANIFEST, MANIFEST_SIG)
    )


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(
    root: Path, signer: Signer, *, run_id: str, head_seq: int, head: str
) -> dict[str, Any]:
    """Write ``manifest.json`` (digests of every file) and ``manifest.sig.json`` (its signature)."""
    manifest = {
        "type": "assay.bundle-manifest/v1",
        "run_id": run_id,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ledger": {"seq": head_seq, "hash": head},
        "files": {name: {"sha256": file_digest(root / name)} for name in bundle_files(root)},
    }
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (root / MANIFEST).write_bytes(data)
    (root / MANIFEST_SIG).write_text(json.dumps(signer.sign(data), indent=2) + "\n")
    return manifest

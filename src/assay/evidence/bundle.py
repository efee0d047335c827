"""`assay report`: write the signed evidence bundle of a run, from its ledger alone.

Bundle layout (every file is listed with its SHA-256 in the signed ``manifest.json``)::

    report.html                   self-contained human report
    report.json                   the same content for machines
    findings.sarif                merged SARIF 2.1.0 (gates of the last iteration + security review)
    junit.xml                     gates, holdout scenarios, security review
    sbom.cdx.json                 CycloneDX 1.6 SBOM of the generated service
    provenance.intoto.dsse.json   in-toto / SLSA provenance v1, signed DSSE envelope
    ledger.jsonl                  every ledger event, one canonical JSON object a line
    head.json                     the run's signed ledger head
    blobs/                        the content-addressed blobs (full prompts, responses)
    signing-key.pub               the public key that signed the bundle
    manifest.json, manifest.sig.json
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from assay.config import find_config, load_settings
from assay.errors import CorruptLedgerError, UserError
from assay.evidence.controls import control_rows
from assay.evidence.dsse import sign_envelope
from assay.evidence.machine import merged_junit, merged_sarif
from assay.evidence.manifest import MANIFEST, file_digest, write_manifest
from assay.evidence.provenance import provenance_statement
from assay.evidence.report_html import render_html
from assay.evidence.sbom import workspace_sbom
from assay.evidence.summary import RunSummary, summarize
from assay.ledger import HEAD_FILE, Event, Ledger, Signer, canonical, verify_run
from assay.ledger import kinds as k
from assay.ledger.verify import NEVER_SEALED, read_run_rows
from assay.plugins import (
    AssayPluginManager,
    ReportContext,
    ReportSection,
    make_plugin_manager,
    report_sections,
)

__all__ = ["BUNDLE_FILES", "Bundle", "report_plugins", "write_bundle"]

BUNDLE_FILES = (
    "report.html", "report.json", "findings.sarif", "junit.xml", "sbom.cdx.json",
    "provenance.intoto.dsse.json", "ledger.jsonl", "head.json", "signing-key.pub",
    "manifest.json", "manifest.sig.json",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Bundle:
    """What `write_bundle` produced."""

    path: Path
    summary: RunSummary
    files: list[str]


def _check_out(out: Path) -> None:
    """Refuse an `out` that assay may not replace: anything but a missing or empty folder, or an
    intact bundle assay wrote holding only its own files. Nothing else is ever deleted."""
    if out.is_symlink():
        raise UserError(f"{out} is a symbolic link; choose a real folder for the bundle")
    if not out.exists():
        return
    if not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; choose a new folder")
    if not any(out.iterdir()):
        return
    from assay.evidence.verify import verify_bundle

    if not (out / MANIFEST).is_file():
        raise UserError(f"{out} is not empty and is not an earlier bundle; choose a new folder")
    check = verify_bundle(out)
    if not check.ok:
        raise UserError(
            f"{out} holds a manifest but is not an intact assay bundle ({check.problems[0]}); "
            "nothing was changed: choose a new folder"
        )


def _install(staged: Path, out: Path) -> None:
    """Move the finished bundle `staged` (a sibling of `out`) into place, replacing an earlier
    bundle only once the new one is complete."""
    if not out.exists():
        staged.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    out.rename(old)
    staged.rename(out)
    shutil.rmtree(old)


def report_plugins(run_dir: Path) -> AssayPluginManager:
    """The plugin manager for reporting on `run_dir`: under the ``[plugins]`` settings of the
    project the run folder is in (``plugins.block`` and ``require`` hold for report sections)."""
    return make_plugin_manager(settings=load_settings(find_config(run_dir)))


def _plugin_sections(
    plugins: AssayPluginManager, workspace: Path, summary: RunSummary
) -> list[ReportSection]:
    """Sections the plugins of the command's manager add."""
    context = ReportContext(root=workspace, run_id=summary.run_id, gate_report=summary.gate_report)
    return report_sections(plugins, context)


def write_bundle(
    run_dir: Path,
    out: Path,
    signer: Signer,
    *,
    plugins: AssayPluginManager,
    approval_required: bool | None = None,
) -> Bundle:
    """Verify the run, then write its evidence bundle into `out` and sign it.

    `plugins` (the command's manager, usually `report_plugins`) add the report's plugin sections.

    A run that crashed, was killed or is still running has events no checkpoint covers: once
    they verify, `signer` seals them with a checkpoint marked ``sealed_by: assay report`` (the
    bundle says so, and that the run is incomplete). `CorruptLedgerError` (exit 1) when the run
    does not verify: nothing is sealed and no bundle is written.
    """
    _check_out(out)
    check = verify_run(run_dir)
    blocking = [p for p in check.problems if p.message != NEVER_SEALED]
    if blocking:
        raise CorruptLedgerError(
            f"{run_dir} does not verify, refusing to report on it: {blocking[0]}"
        )
    if check.unsealed_tail:
        with Ledger.open(run_dir, create=False) as ledger:
            ledger.checkpoint(signer, sealed_by=k.REPORT_SEAL)
        check = verify_run(run_dir)
        if not check.ok:
            raise CorruptLedgerError(
                f"{run_dir}: sealed, yet it does not verify: {check.problems[0]}"
            )
    # From the run's store, SQLite or PostgreSQL: the bundle's ledger.jsonl holds the same bodies
    # and hashes either way, so it verifies offline with no database.
    run_id, rows = read_run_rows(run_dir)
    events = [Event.from_body(body, digest) for _seq, body, digest in rows]
    summary = summarize(events, run_id=run_id, approval_required=approval_required)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written into a private sibling and moved into place: a failed report leaves nothing behind.
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.assay-", dir=out.parent))
    try:
        files = _write_files(run_dir, staged, signer, summary, events, run_id, plugins)
        _install(staged, out)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return Bundle(out, summary, files)


def _write_files(
    run_dir: Path,
    out: Path,
    signer: Signer,
    summary: RunSummary,
    events: list[Event],
    run_id: str,
    plugins: AssayPluginManager,
) -> list[str]:
    """Every file of the bundle, written into `out`; returns the manifest's file list."""

    (out / "ledger.jsonl").write_bytes(b"".join(canonical(e.to_dict()) + b"\n" for e in events))
    shutil.copy2(run_dir / HEAD_FILE, out / HEAD_FILE)
    if (run_dir / "blobs").is_dir():
        shutil.copytree(run_dir / "blobs", out / "blobs")
    (out / "signing-key.pub").write_bytes(
        signer.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    workspace = run_dir / "workspace"
    (out / "sbom.cdx.json").write_text(workspace_sbom(workspace, fallback_name=run_id))
    (out / "findings.sarif").write_text(merged_sarif(summary))
    (out / "junit.xml").write_text(merged_junit(summary))
    statement = provenance_statement(
        summary, workspace, ledger_digest=file_digest(out / "ledger.jsonl"), head_seq=events[-1].seq
    )
    (out / "provenance.intoto.dsse.json").write_text(sign_envelope(canonical(statement), signer))
    summary.controls = control_rows(set(BUNDLE_FILES))
    summary.plugin_sections = _plugin_sections(plugins, workspace, summary)
    (out / "report.json").write_text(summary.model_dump_json(indent=2))
    (out / "report.html").write_text(render_html(summary), encoding="utf-8")
    manifest = write_manifest(
        out, signer, run_id=run_id, head_seq=events[-1].seq, head=events[-1].hash
    )
    return sorted(manifest["files"])

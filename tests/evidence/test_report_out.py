"""Issue 12, data loss: `assay report --out DIR` deletes nothing assay did not write.

Each test reproduces a case the adversarial sweep found and shows it now fails safely.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import UserError
from assay.evidence import bundle as bundle_module
from assay.evidence.bundle import report_plugins, write_bundle
from assay.evidence.verify import verify_bundle
from assay.ledger import Signer


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_out_is_a_git_repo_with_a_web_manifest_json(
    sample_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: `--out .` in a web app's repository deleted `.git` and the sources (rc 3)."""
    app = tmp_path / "webapp"
    app.mkdir()
    (app / "manifest.json").write_text('{"name": "my pwa", "start_url": "/"}\n')
    (app / "index.html").write_text("<!doctype html>\n")
    subprocess.run(["git", "init", "-q", str(app)], check=True)
    before = _tree(app)
    assert main(["report", str(sample_run), "--out", str(app)]) == 2
    assert "not an intact assay bundle" in capsys.readouterr().err
    assert _tree(app) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["webapp"]  # no staging left behind


def test_a_file_added_to_an_old_bundle_is_not_deleted(
    sample_run: Path, tmp_path: Path, signer: Signer
) -> None:
    """Before: files a user added to an old bundle folder were deleted silently."""
    out = tmp_path / "bundle"
    write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    (out / "my-notes.txt").write_text("auditor's notes\n")
    before = _tree(out)
    with pytest.raises(UserError, match="not an intact assay bundle"):
        write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    assert _tree(out) == before


def test_an_intact_earlier_bundle_is_replaced_a_tampered_one_is_not(
    sample_run: Path, tmp_path: Path, signer: Signer
) -> None:
    out = tmp_path / "bundle"
    write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    # an intact bundle assay wrote: replaced
    again = write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    assert verify_bundle(again.path).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    (out / "report.html").write_text("edited by hand\n")  # no longer what assay wrote
    before = _tree(out)
    with pytest.raises(UserError, match="not an intact assay bundle"):
        write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    assert _tree(out) == before


def test_a_failed_report_leaves_nothing_behind_and_does_not_block_a_rerun(
    sample_run: Path, tmp_path: Path, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a failed report left a half-written bundle that blocked the rerun."""
    out = tmp_path / "bundle"

    def broken(summary: object) -> str:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(bundle_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run))
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert verify_bundle(
        write_bundle(sample_run, out, signer, plugins=report_plugins(sample_run)).path
    ).ok


def test_out_through_a_symlink_is_refused(sample_run: Path, tmp_path: Path, signer: Signer) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep\n")
    link = tmp_path / "bundle"
    link.symlink_to(elsewhere)
    with pytest.raises(UserError, match="symbolic link"):
        write_bundle(sample_run, link, signer, plugins=report_plugins(sample_run))
    assert _tree(elsewhere) == {"keep.txt": b"keep\n"}

"""`verify` on a bundle: untouched passes; a replaced file, an edited, deleted or swapped event,
a forged manifest or an untrusted key fail, naming the culprit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from assay.cli import main
from assay.evidence.bundle import BUNDLE_FILES, Bundle, report_plugins, write_bundle
from assay.evidence.manifest import MANIFEST, MANIFEST_SIG
from assay.evidence.verify import verify_bundle, verify_target
from assay.ledger import Ledger, Signer
from tests.conftest import line_with


@pytest.fixture
def copy(bundle: Bundle, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle.path, tmp_path / "bundle"))


def test_untouched_bundle_verifies(bundle: Bundle, signer: Signer) -> None:
    result = verify_bundle(bundle.path, trusted={signer.key_id})
    assert result.ok, result.problems
    assert result.events == bundle.summary.events


@pytest.mark.parametrize("name", [n for n in BUNDLE_FILES if n not in (MANIFEST, MANIFEST_SIG)])
def test_a_replaced_bundle_file_is_named(copy: Path, name: str) -> None:
    path = copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify_bundle(copy)
    assert not result.ok
    assert result.problems[0].file == name
    assert "changed" in result.problems[0].message


def test_a_replaced_blob_is_named(copy: Path, bundle: Bundle) -> None:
    name = next(n for n in bundle.files if n.startswith("blobs/"))
    (copy / name).write_bytes(b"another prompt")
    result = verify_bundle(copy)
    assert result.problems[0].file == name


def test_an_added_file_is_named(copy: Path) -> None:
    (copy / "extra.txt").write_text("planted")
    assert str(verify_bundle(copy).problems[0]).startswith("extra.txt: not listed")


def test_a_removed_file_is_named(copy: Path) -> None:
    (copy / "junit.xml").unlink()
    assert str(verify_bundle(copy).problems[0]).startswith("junit.xml: listed in the manifest")


def _lines(copy: Path) -> list[bytes]:
    return (copy / "ledger.jsonl").read_bytes().splitlines(keepends=True)


def test_an_edited_event_names_the_file_and_the_event(copy: Path) -> None:
    lines = _lines(copy)
    lines[4] = lines[4].replace(b'"test:', b'"TEST:', 1)
    (copy / "ledger.jsonl").write_bytes(b"".join(lines))
    result = verify_bundle(copy)
    assert result.problems[0].file == "ledger.jsonl"
    assert next(p.seq for p in result.problems if p.seq is not None) == 5


def test_a_deleted_event_is_named(copy: Path) -> None:
    lines = _lines(copy)
    del lines[6]
    (copy / "ledger.jsonl").write_bytes(b"".join(lines))
    events = [p for p in verify_bundle(copy).problems if p.seq is not None]
    assert events[0].seq == 7  # the line that now holds event 8


def test_two_swapped_events_are_named(copy: Path) -> None:
    lines = _lines(copy)
    lines[2], lines[3] = lines[3], lines[2]
    (copy / "ledger.jsonl").write_bytes(b"".join(lines))
    events = [p for p in verify_bundle(copy).problems if p.seq is not None]
    assert events[0].seq == 3
    assert "reordered" in events[0].message


def test_a_forged_manifest_fails_its_signature(copy: Path) -> None:
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["files"]["extra.txt"] = {"sha256": "0" * 64}
    (copy / MANIFEST).write_text(json.dumps(manifest))
    result = verify_bundle(copy)
    assert result.problems[0].file == MANIFEST_SIG


def test_a_resigned_bundle_fails_when_the_key_is_pinned(copy: Path, signer: Signer) -> None:
    other = Signer.generate()
    data = (copy / MANIFEST).read_bytes()
    (copy / MANIFEST_SIG).write_text(json.dumps(other.sign(data)))
    assert verify_bundle(copy).problems[0].file == "provenance.intoto.dsse.json"
    pinned = verify_bundle(copy, trusted={signer.key_id})
    assert pinned.problems[0].file == MANIFEST_SIG
    assert "untrusted" in pinned.problems[0].message


def test_cli_verify_exit_codes(
    copy: Path, capsys: pytest.CaptureFixture[str], signer: Signer
) -> None:
    assert main(["verify", str(copy), "--trust", signer.key_id]) == 0
    assert "verified" in capsys.readouterr().out
    (copy / "report.html").write_text("<html>forged</html>")
    assert main(["verify", str(copy), "--trust", signer.key_id]) == 1
    out = capsys.readouterr().out
    assert "first bad: report.html" in out


def test_verify_target_rejects_a_plain_folder(tmp_path: Path) -> None:
    from assay.errors import UserError

    with pytest.raises(UserError, match="neither an evidence bundle nor a run folder"):
        verify_target(tmp_path)
    assert main(["verify", str(tmp_path)]) == 2


def test_a_bundle_resigned_by_an_attackers_key_does_not_verify(
    sample_run: Path, tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12, point 7: an attacker forges an approval, re-seals the run with their own key and
    writes a fresh bundle. Every digest and signature is intact; it used to print "verified"."""
    attacker = Signer.generate()
    run = Path(shutil.copytree(sample_run, tmp_path / "run"))
    with Ledger.open(run, create=False) as ledger:
        ledger.append("approval", {"approver": "mallory", "reason": "trust me"})
        ledger.checkpoint(attacker)
    forged = write_bundle(run, tmp_path / "forged", attacker, plugins=report_plugins(run)).path
    assert not verify_bundle(forged).problems  # intact: only its signer gives it away
    assert main(["verify", str(forged)]) == 1
    out = capsys.readouterr().out
    assert line_with(out, "FAILED", "signature valid, signer not trusted", attacker.key_id)
    assert main(["trust", "add", signer.key_id, "--name", "our factory"]) == 0
    assert main(["verify", str(forged)]) == 1  # the attacker's key is still a stranger
    assert main(["verify", str(forged), "--trust", signer.key_id]) == 1
    assert main(["verify", str(run)]) == 1  # the run folder too
    genuine = write_bundle(
        sample_run, tmp_path / "genuine", signer, plugins=report_plugins(sample_run)
    ).path
    capsys.readouterr()
    assert main(["verify", str(genuine)]) == 0
    assert "verified" in capsys.readouterr().out


def test_trust_add_takes_a_bundles_public_key_file_and_remove_forgets_it(
    bundle: Bundle, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["trust", "add", str(bundle.path / "signing-key.pub"), "--name", "ci"]) == 0
    assert main(["trust", "list"]) == 0
    assert line_with(capsys.readouterr().out, signer.key_id, "ci")
    assert main(["verify", str(bundle.path)]) == 0
    assert main(["trust", "remove", signer.key_id[:12]]) == 0
    assert main(["verify", str(bundle.path)]) == 1
    assert main(["trust", "remove", signer.key_id]) == 2
    assert main(["trust", "add", "not-a-key"]) == 2

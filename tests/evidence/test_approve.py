"""`assay approve`: segregation of duties, signatures, and the releasability policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import UserError
from assay.evidence.approval import approve_run, generating_identities
from assay.evidence.bundle import write_bundle
from assay.evidence.summary import summarize
from assay.ledger import Ledger, Signer, verify_run
from tests.evidence.sample_run import write_sample_run


def _summary(run: Path, **kw: bool) -> object:
    with Ledger.open(run, create=False) as ledger:
        return summarize(list(ledger.events()), run_id=ledger.run_id, **kw)


def test_generators_are_the_roles_models_and_starting_user(run_copy: Path) -> None:
    with Ledger.open(run_copy, create=False) as ledger:
        ids = generating_identities(ledger.events())
    assert {"alice", "coder", "security-reviewer", "test:coder", "test:reviewer"} <= ids


@pytest.mark.parametrize("name", ["coder", "Alice", "test:coder", " security-reviewer "])
def test_a_generator_may_not_approve(run_copy: Path, name: str) -> None:
    with pytest.raises(UserError, match="generated this change"):
        approve_run(run_copy, name, "looks fine", Signer.generate())
    assert verify_run(run_copy).ok


def test_an_independent_approval_makes_the_run_releasable(run_copy: Path, tmp_path: Path) -> None:
    assert not _summary(run_copy).releasable  # type: ignore[attr-defined]
    signer = Signer.generate()
    event = approve_run(run_copy, "Bob Reviewer", "read the diff and the evidence", signer)
    assert event.kind == "approval"
    assert event.payload["signature"]["keyid"] == signer.key_id
    result = verify_run(run_copy)
    assert result.ok, result.problems
    summary = _summary(run_copy)
    assert summary.releasable, summary.releasable_reasons  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="already approved"):
        approve_run(run_copy, "bob reviewer", "again", signer)
    bundle = write_bundle(run_copy, tmp_path / "b", signer)
    html = (bundle.path / "report.html").read_text()
    assert "Bob Reviewer" in html and "read the diff and the evidence" in html
    assert json.loads((bundle.path / "report.json").read_text())["releasable"] is True


def test_policy_off_means_releasable_without_approval(run_copy: Path) -> None:
    assert _summary(run_copy, approval_required=False).releasable  # type: ignore[attr-defined]


def test_an_unfinished_run_cannot_be_approved(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "r", Signer.generate(), finish=False)
    with pytest.raises(UserError, match="has not finished"):
        approve_run(run, "bob", "ok", Signer.generate())


def test_a_forged_approval_does_not_count(run_copy: Path) -> None:
    """An approval appended without a valid signature is recorded but not counted."""
    with Ledger.open(run_copy, create=False) as ledger:
        head = ledger.head()
        assert head is not None
        forged = Signer.generate().sign(b"not the approval statement")
        ledger.append(
            "approval",
            {"approver": "mallory", "reason": "trust me", "head": head.hash, "signature": forged},
        )
        ledger.checkpoint(Signer.generate())
    summary = _summary(run_copy)
    assert not summary.releasable  # type: ignore[attr-defined]
    assert "approval signature" in summary.approval_problems[0]  # type: ignore[attr-defined]


def test_cli_approve(run_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSAY_SIGNING_KEY", str(tmp_path / "keys" / "approver.pem"))
    assert main(["approve", str(run_copy), "--as", "coder", "--reason", "x"]) == 2
    assert main(["approve", str(run_copy), "--as", "carol", "--reason", "checked"]) == 0
    assert (tmp_path / "keys" / "approver.pem").is_file()
    assert main(["verify", str(run_copy)]) == 0
    out = tmp_path / "bundle"
    assert main(["report", str(run_copy), "--out", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert main(["report", str(run_copy), "--out", str(out)]) == 0  # replaces an earlier bundle
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["report", str(run_copy), "--out", str(tmp_path / "busy")]) == 2
    assert main(["report", str(tmp_path / "nope"), "--out", str(out)]) == 2

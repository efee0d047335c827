"""`assay approve`: segregation of duties, signatures, and the releasability policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from assay.cli import main
from assay.errors import UserError
from assay.evidence.approval import (
    Approver,
    approval_statement,
    approve_run,
    generating_identities,
    name_skeleton,
)
from assay.evidence.bundle import report_plugins, write_bundle
from assay.evidence.summary import summarize
from assay.ledger import Event, Ledger, Signer, verify_run
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
    bundle = write_bundle(run_copy, tmp_path / "b", signer, plugins=report_plugins(run_copy))
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
            {
                "approver": "mallory",
                "reason": "trust me",
                "os_uid": 1,
                "os_user": "daemon",
                "converged": True,
                "head": head.hash,
                "signature": forged,
            },
        )
        ledger.checkpoint(Signer.generate())  # fmt: skip
    summary = _summary(run_copy)
    assert not summary.releasable  # type: ignore[attr-defined]
    assert "approval signature" in summary.approval_problems[0]  # type: ignore[attr-defined]


def test_cli_approve(
    run_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signer: Signer
) -> None:
    monkeypatch.setenv("ASSAY_SIGNING_KEY", str(tmp_path / "keys" / "approver.pem"))
    assert main(["approve", str(run_copy), "--as", "carol", "--reason", "checked"]) == 2  # no key
    assert main(["key", "create"]) == 0
    assert main(["approve", str(run_copy), "--as", "coder", "--reason", "x"]) == 2
    assert main(["approve", str(run_copy), "--as", "carol", "--reason", "checked"]) == 0
    assert (tmp_path / "keys" / "approver.pem").is_file()
    assert main(["verify", str(run_copy)]) == 1  # the factory's key is not trusted here yet
    assert main(["trust", "add", signer.key_id, "--name", "factory"]) == 0
    assert main(["verify", str(run_copy)]) == 0
    out = tmp_path / "bundle"
    assert main(["report", str(run_copy), "--out", str(out)]) == 0
    assert main(["verify", str(out)]) == 0
    assert main(["report", str(run_copy), "--out", str(out)]) == 0  # replaces an earlier bundle
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["report", str(run_copy), "--out", str(tmp_path / "busy")]) == 2
    assert main(["report", str(tmp_path / "nope"), "--out", str(out)]) == 2


def _approve_as(run: Path, name: str, *, uid: int, key: Signer | None = None) -> Event:
    """An approval by OS account `uid` (the tests run as one account; the check is the same)."""
    signer = key or Signer.generate()
    who = Approver(name, uid, f"user{uid}", signer.key_id)
    return approve_run(run, name, "read the evidence", signer, who=who)


def test_root_approving_its_own_run_as_bob_is_refused(tmp_path: Path) -> None:
    """Root started the run; `--as bob` from root's account is still root, whatever the name."""
    run = write_sample_run(tmp_path / "r", Signer.generate(), starter_uid=os.getuid())
    with pytest.raises(UserError, match=r"started this run; an approval must come from another"):
        approve_run(run, "bob", "looks fine", Signer.generate())
    assert not any(e.kind == "approval" for e in _events(run))


def test_two_names_from_one_account_count_once_toward_min_approvals(tmp_path: Path) -> None:
    """min_approvals = 2: root approving as bob and then as dave is one approver, not two."""
    run = write_sample_run(tmp_path / "r", Signer.generate(), approval={"min_approvals": 2})
    _approve_as(run, "bob", uid=1001)
    with pytest.raises(UserError, match=r"uid 1001 already approved \(as 'bob'\)"):
        _approve_as(run, "dave", uid=1001)
    # Written around the check (straight into the ledger, validly signed), it still counts once.
    _forge_approval(run, "dave", uid=1001)
    summary = _summary(run)
    assert not summary.releasable  # type: ignore[attr-defined]
    assert "policy requires 2 approval(s); 1 recorded" in summary.releasable_reasons  # type: ignore[attr-defined]
    assert any("uid 1001 already approved" in p for p in summary.approval_problems)  # type: ignore[attr-defined]
    _approve_as(run, "dave", uid=1002)
    assert _summary(run).releasable  # type: ignore[attr-defined]


def test_one_key_for_two_approvers_counts_once(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "r", Signer.generate(), approval={"min_approvals": 2})
    shared = Signer.generate()
    _approve_as(run, "bob", uid=1001, key=shared)
    with pytest.raises(UserError, match="already approved"):
        _approve_as(run, "dave", uid=1002, key=shared)


def test_the_factory_key_that_sealed_the_run_may_not_approve(tmp_path: Path) -> None:
    factory = Signer.generate()
    run = write_sample_run(tmp_path / "r", factory)
    with pytest.raises(UserError, match=r"sealed this run \(the factory's key\)"):
        _approve_as(run, "bob", uid=1001, key=factory)
    _forge_approval(run, "bob", uid=1001, key=factory)
    assert any("factory's key" in p for p in _summary(run).approval_problems)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "lookalike",
    [
        "\u0430lice",  # Cyrillic a, then Latin: mixed scripts
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
        "al\u200bice",  # a zero-width space inside
        "ALICE",
    ],
)
def test_a_lookalike_of_alice_may_not_approve_alices_run(run_copy: Path, lookalike: str) -> None:
    with pytest.raises(UserError, match=r"mixes scripts|generated this change"):
        _approve_as(run_copy, lookalike, uid=1001)


def test_a_single_script_lookalike_has_alices_skeleton() -> None:
    # Every letter Cyrillic (no mixed script): the TR39 skeleton still reads "ace".
    assert name_skeleton("\u0430\u0441\u0435") == "ace"
    assert name_skeleton("\u0414\u043c\u0438\u0442\u0440\u0438\u0439") != name_skeleton("dmitrij")


def test_an_unconverged_run_needs_the_flag_and_the_report_says_so(tmp_path: Path) -> None:
    run = write_sample_run(tmp_path / "r", Signer.generate(), outcome="stalled")
    with pytest.raises(UserError, match="did not converge; approve it anyway only with"):
        _approve_as(run, "bob", uid=1001)
    signer = Signer.generate()
    who = Approver("bob", 1001, "bob", signer.key_id)
    event = approve_run(run, "bob", "accepting the risk", signer, unconverged=True, who=who)
    assert event.payload["converged"] is False
    summary = _summary(run)
    assert summary.approvals[0].valid and not summary.approvals[0].converged  # type: ignore[attr-defined]
    assert not summary.releasable  # type: ignore[attr-defined]
    html = (
        write_bundle(run, tmp_path / "b", signer, plugins=report_plugins(run))
        .path.joinpath("report.html")
        .read_text()
    )
    assert "run had not converged" in html


def test_pinned_approver_keys_refuse_another_key_under_that_name(tmp_path: Path) -> None:
    bobs = Signer.generate()
    run = write_sample_run(
        tmp_path / "r", Signer.generate(), approval={"approvers": {"Bob": [bobs.key_id]}}
    )
    with pytest.raises(UserError, match="not a key the project pins for 'bob'"):
        _approve_as(run, "bob", uid=1001)
    _approve_as(run, "bob", uid=1001, key=bobs)
    assert _summary(run).releasable  # type: ignore[attr-defined]


def test_approve_as_a_name_with_markup_is_printed_literally(
    run_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--as 'eve[/]'` used to crash after the approval was written."""
    monkeypatch.setenv("ASSAY_SIGNING_KEY", str(tmp_path / "eve.pem"))
    assert main(["key", "create"]) == 0
    assert main(["approve", str(run_copy), "--as", "eve[/]", "--reason", "ok [bold]"]) == 0
    assert "approval by eve[/] (OS user" in capsys.readouterr().out
    assert [e.payload["approver"] for e in _events(run_copy) if e.kind == "approval"] == ["eve[/]"]


def test_mistyped_signing_key_path_is_an_error_not_a_new_key(
    run_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ASSAY_SIGNING_KEY", str(tmp_path / "kyes" / "me.pem"))
    assert main(["approve", str(run_copy), "--as", "carol", "--reason", "ok"]) == 2
    assert "no signing key at" in capsys.readouterr().err
    assert not (tmp_path / "kyes").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="switching OS accounts needs root")
def test_a_second_os_account_with_its_own_key_approves_roots_run() -> None:
    """Real accounts: root starts the run and may not approve it; `nobody` may, with its key."""
    assay = [str(Path(sys.executable).with_name("assay"))]
    # nobody's uid and gid, with only the capability to read and search folders: the checkout's
    # interpreter may live under root's private home (pyenv), which nobody could not reach.
    as_nobody = [
        "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
    ]  # fmt: skip
    if subprocess.run([*as_nobody, *assay, "-V"], capture_output=True, check=False).returncode:
        pytest.skip("this checkout is not readable by the nobody account")
    # Under /run, not the test's temp folder: that one's parents are private to root.
    base = Path(tempfile.mkdtemp(prefix="assay-approve-", dir="/run"))
    try:
        run = write_sample_run(base / "r", Signer.generate(), starter_uid=0)
        home = base / "nobody"
        home.mkdir()
        base.chmod(0o755)
        for path in (run, home):
            subprocess.run(["chown", "-R", "65534:65534", str(path)], check=True)
        env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
        env.pop("ASSAY_SIGNING_KEY", None)
        approve = [*assay, "approve", str(run), "--as", "bob", "--reason", "ok"]
        root_env = {**env, "HOME": str(base), "XDG_CONFIG_HOME": str(base / ".config")}
        refused = subprocess.run(approve, capture_output=True, text=True, env=root_env, check=False)
        assert refused.returncode == 2 and "(uid 0) started this run" in refused.stderr
        done = subprocess.run(
            [*as_nobody, *approve], capture_output=True, text=True, env=env, check=False, cwd=home
        )
        assert done.returncode == 0, done.stderr + "".join(
            p.read_text() for p in home.glob(".local/state/assay/crashes/*")
        )
        assert "(OS user nobody, uid 65534)" in done.stdout
        assert _summary(run).releasable  # type: ignore[attr-defined]
    finally:
        shutil.rmtree(base)


def _events(run: Path) -> list[Event]:
    with Ledger.open(run, create=False) as ledger:
        return list(ledger.events())


def _forge_approval(run: Path, name: str, *, uid: int, key: Signer | None = None) -> None:
    """Append a validly signed approval without `approve_run`'s checks (as a tool could)."""
    signer = key or Signer.generate()
    with Ledger.open(run, create=False) as ledger:
        head = ledger.head()
        assert head is not None
        payload = {"approver": name, "reason": "r", "os_uid": uid, "os_user": "u",
                   "converged": True, "head": head.hash}  # fmt: skip
        payload["signature"] = signer.sign(approval_statement(ledger.run_id, head.hash, payload))
        ledger.append("approval", payload)
        ledger.checkpoint(signer)

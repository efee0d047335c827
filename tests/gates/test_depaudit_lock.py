"""Issue 13, point 4: the dependency-audit gate audits a hashed lock as it stands (``--no-deps
--disable-pip``: no virtualenv, no pip, no index), finds a known vulnerability of a locked version
through the configured OSV service, and says ``not-evaluated`` when that service cannot be
reached. Real uv locks from the real index; real pip-audit; a local OSV service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from assay.config import GatePolicy, Settings
from assay.deps.lock import LOCK_HEADER, Lock, resolve
from assay.gates.base import GateContext, GateResult, GateStatus
from assay.gates.depaudit import DepAuditGate, DepAuditOptions, is_lock
from tests.osv_service import IDNA_VULN, OsvService, osv_service

UNREACHABLE = "http://127.0.0.1:9/v1/query"  # the discard port: nothing listens there


@pytest.fixture
def osv() -> Iterator[OsvService]:
    with osv_service() as service:
        yield service


@pytest.fixture(scope="module")
def idna_lock() -> Lock:
    return resolve(["idna==3.6"])


def settings_for(osv_url: str) -> Settings:
    return Settings(gates={"depaudit": GatePolicy.model_validate({"osv_url": osv_url})})


def project(root: Path, **files: str) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def audit(gl: SimpleNamespace, root: Path, settings: Settings) -> GateResult:
    [result] = gl.run(root, [DepAuditGate()], settings, cache_dir=None).results
    return result  # type: ignore[no-any-return]


def argv_for(root: Path, files: list[str]) -> list[str]:
    options = DepAuditOptions().model_dump()
    ctx = GateContext(root=root, files=(), options=options, report_dir=root / "r", all_files=())
    return DepAuditGate().argv(ctx, files)


HASHED = "idna==3.6 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r -\n"


def test_a_file_with_every_requirement_pinned_and_hashed_is_a_lock(tmp_path: Path) -> None:
    root = project(tmp_path / "p", **{"requirements.txt": HASHED, "requirements-dev.txt": HASHED})
    assert is_lock(root, ["requirements.txt", "requirements-dev.txt"])


@pytest.mark.parametrize(
    "text",
    [
        "idna==3.6\n",  # pinned, no hash
        "idna>=3.6 --hash=sha256:" + "a" * 64 + "\n",  # hashed, not pinned
        HASHED + "-r base.txt\n",  # pulls in a file that is not audited as a lock
        HASHED + "httpx==0.28.1\n",  # one requirement without a hash
        "# nothing but a comment\n",
    ],
)
def test_a_file_that_leaves_anything_unpinned_or_unhashed_is_not_a_lock(
    tmp_path: Path, text: str
) -> None:
    root = project(tmp_path / "p", **{"requirements.txt": text})
    assert not is_lock(root, ["requirements.txt"])


def test_one_unlocked_file_among_the_audited_ones_means_no_lock(tmp_path: Path) -> None:
    root = project(tmp_path / "p", **{"a.txt": HASHED, "requirements.txt": "idna==3.6\n"})
    assert is_lock(root, ["a.txt"]) and not is_lock(root, ["a.txt", "requirements.txt"])
    assert not is_lock(root, ["pyproject.toml"]) and not is_lock(root, [])


def test_a_lock_is_audited_without_pip_or_a_virtualenv_without_being_told(
    tmp_path: Path, idna_lock: Lock
) -> None:
    locked = project(tmp_path / "locked", **{"requirements.txt": LOCK_HEADER + idna_lock.text})
    assert argv_for(locked, ["requirements.txt"])[-4:] == [
        "--no-deps", "--disable-pip", "-r", "requirements.txt",
    ]  # fmt: skip
    loose = project(tmp_path / "loose", **{"requirements.txt": "idna==3.6\n"})
    assert "--disable-pip" not in argv_for(loose, ["requirements.txt"])


def test_a_vulnerable_locked_version_is_a_finding_at_its_line_in_the_lock(
    tmp_path: Path,
    gl: SimpleNamespace,
    osv: OsvService,
    idna_lock: Lock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing may reach an index: a pip run would fail, so a verdict proves no pip ran.
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    osv.advise("idna", "3.6", IDNA_VULN)
    text = LOCK_HEADER + idna_lock.text
    root = project(tmp_path / "p", **{"requirements.txt": text})
    result = audit(gl, root, settings_for(osv.url))
    assert result.status is GateStatus.FAILED, result.message
    [finding] = result.findings
    # pip-audit reports the advisory under one of its ids and lists the others as aliases.
    assert finding.rule_id in {"GHSA-jjg7-2v4v-x38h", "CVE-2024-3651"}
    said = f"{finding.rule_id} {finding.message}"
    assert "GHSA-jjg7-2v4v-x38h" in said and "CVE-2024-3651" in said
    assert "idna 3.6" in finding.message and "fixed in: 3.7" in finding.message
    pin = text.splitlines().index(next(ln for ln in text.splitlines() if ln.startswith("idna==")))
    assert (finding.file, finding.line) == ("requirements.txt", pin + 1)
    assert osv.queries == [("idna", "3.6")]


def test_a_locked_version_with_no_advisory_passes(
    tmp_path: Path, gl: SimpleNamespace, osv: OsvService, idna_lock: Lock
) -> None:
    root = project(tmp_path / "p", **{"requirements.txt": LOCK_HEADER + idna_lock.text})
    result = audit(gl, root, settings_for(osv.url))
    assert result.status is GateStatus.PASSED, result.message
    assert result.metrics["dependencies"] == 1.0 and result.metrics["vulnerable"] == 0.0
    assert osv.queries == [("idna", "3.6")]


def test_an_unreachable_vulnerability_service_is_not_evaluated_never_passed(
    tmp_path: Path, gl: SimpleNamespace, idna_lock: Lock
) -> None:
    root = project(tmp_path / "p", **{"requirements.txt": LOCK_HEADER + idna_lock.text})
    result = audit(gl, root, settings_for(UNREACHABLE))
    assert result.status is GateStatus.NOT_EVALUATED, (result.status, result.message)
    assert result.message.startswith("no verdict: the package index or vulnerability service")
    assert result.findings == []

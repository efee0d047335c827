"""The licence-policy gate, run by assay's own gate runner over real metadata folders."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest
from assay.config import Settings
from assay.gates.base import GateReport, GateStatus
from assay.gates.runner import GateRunner
from assay.plugins import gates, make_plugin_manager

from assay_licence_policy import LicencePolicyGate
from assay_licence_policy.licences import judge


def _dist(site: Path, name: str, *headers: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    body = "\n".join(["Metadata-Version: 2.4", f"Name: {name}", "Version: 1.0", *headers])
    (info / "METADATA").write_text(body + "\n", encoding="utf-8")


def _project(root: Path, deps: list[str]) -> None:
    listed = "".join(f'    "{d}",\n' for d in deps)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "svc"\nversion = "0"\ndependencies = [\n{listed}]\n', encoding="utf-8"
    )


def _run(root: Path, options: dict[str, Any]) -> GateReport:
    settings = Settings.model_validate({"gates": {"licence-policy": options}})
    runner = GateRunner(root, settings, [LicencePolicyGate()])
    return asyncio.run(runner.run())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("MIT", "ok"),
        ("GPL-3.0-only", "denied"),
        ("MIT OR GPL-3.0-only", "ok"),
        ("MIT AND GPL-3.0-only", "denied"),
        ("(MIT OR GPL-2.0-only) AND Apache-2.0", "ok"),
        ("GPL-2.0-or-later WITH Classpath-exception-2.0", "denied"),
        ("MPL-2.0", "not-allowed"),
    ],
)
def test_judge_follows_spdx_or_and(expression: str, expected: str) -> None:
    assert judge(expression, allow=["MIT", "Apache-*", "GPL-*"], deny=["GPL-*"]) == expected


def test_judge_rejects_broken_expression() -> None:
    with pytest.raises(ValueError, match="parentheses"):
        judge("(MIT OR Apache-2.0", allow=[], deny=[])


def test_gate_reports_denied_unknown_and_missing(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "goodlib", "License-Expression: MIT", "Requires-Dist: badlib")
    gpl = "Classifier: License :: OSI Approved :: GNU General Public License v3 (GPLv3)"
    _dist(site, "badlib", gpl)
    _dist(site, "mystery")
    _dist(site, "unused", "License: GPL")
    _project(tmp_path, ["goodlib>=1", "mystery", "absent"])

    report = _run(tmp_path, {"environment": "site"})

    result = report.results[0]
    assert result.status is GateStatus.FAILED
    found = {(f.rule_id, f.severity, f.line) for f in result.findings}
    assert found == {
        ("licence-denied", "high", 5),
        ("licence-unknown", "medium", 6),
        ("dependency-missing", "medium", 7),
    }
    denied = next(f for f in result.findings if f.rule_id == "licence-denied")
    assert denied.file == "pyproject.toml"
    assert "goodlib -> badlib" in denied.message and "GPL-3.0-only" in denied.message
    assert result.metrics["dependencies"] == 4.0
    assert not report.passed


def test_allow_list_and_ignore(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "a", "License-Expression: MIT")
    _dist(site, "b", "License-Expression: MPL-2.0")
    _dist(site, "internal")
    _project(tmp_path, ["a", "b", "internal"])

    report = _run(tmp_path, {"environment": "site", "allow": ["MIT"], "ignore": ["internal"]})

    [finding] = report.results[0].findings
    assert finding.rule_id == "licence-not-allowed"
    assert finding.message.startswith("b 1.0 (b) is MPL-2.0")


def test_passes_against_the_real_environment(tmp_path: Path) -> None:
    # pluggy (MIT) and its own dependencies are installed wherever assay is.
    _project(tmp_path, ["pluggy"])
    report = _run(tmp_path, {"allow": ["MIT", "BSD-*", "Apache-2.0", "PSF-2.0"]})
    assert report.results[0].status is GateStatus.PASSED, report.results[0].findings
    assert report.passed


def test_nothing_installed_is_not_evaluated(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _project(tmp_path, ["absent-one", "absent-two"])
    result = _run(tmp_path, {"environment": "empty"}).results[0]
    assert result.status is GateStatus.NOT_EVALUATED
    assert "none of the dependencies is installed" in result.message


def test_requirements_file_and_bad_requirement(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "gpl-thing", "License: GPL-2.0-only")
    (tmp_path / "requirements.txt").write_text(
        textwrap.dedent("""\
            # pinned
            gpl-thing==1.0
            -r other.txt
        """),
        encoding="utf-8",
    )
    [finding] = _run(tmp_path, {"environment": "site"}).results[0].findings
    where = (finding.rule_id, finding.file, finding.line)
    assert where == ("licence-denied", "requirements.txt", 2)

    (tmp_path / "requirements.txt").write_text("not a requirement !!\n", encoding="utf-8")
    result = _run(tmp_path, {"environment": "site"}).results[0]
    assert result.status is GateStatus.ERROR
    assert "requirements.txt: bad requirement" in result.message


def test_installed_plugin_is_found_through_its_entry_point() -> None:
    pm = make_plugin_manager()
    assert "licence-policy" in pm.plugin_order()
    assert "licence-policy" in [g.name for g in gates(pm)]
    assert pm.records["licence-policy"].distribution == "assay-licence-policy"

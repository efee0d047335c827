"""The gate runner with real tools: caching, per-file rescans, fingerprints, waivers, fail-fast,
configuration errors, and missing or crashing tools."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from assay.config import GatePolicy, Settings, Waiver, load_settings
from assay.errors import ConfigError
from assay.gates.bandit import BanditGate
from assay.gates.base import GateContext, GateStatus, Scan
from assay.gates.complexity import ComplexityGate
from assay.gates.depaudit import DepAuditGate
from assay.gates.ruff import RuffGate


class CountingComplexity(ComplexityGate):
    """The real complexity gate, counting how often (and on what) the tool actually ran."""

    def __init__(self) -> None:
        self.scans: list[list[str]] = []

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        self.scans.append(list(files))
        return await super().scan(ctx, files)


def test_unchanged_inputs_are_a_cache_hit(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    gate = CountingComplexity()
    first = gl.run(root, [gate]).results[0]
    second = gl.run(root, [gate]).results[0]
    assert (first.cached, second.cached) == (False, True)
    assert len(gate.scans) == 1  # the tool did not run again
    assert second.files_scanned == 0
    assert second.findings == first.findings
    assert second.status is GateStatus.FAILED


def test_per_file_gate_rescans_only_the_changed_file(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    (root / "other.py").write_text("def f(x: int) -> int:\n    return x\n")
    gate = CountingComplexity()
    first = gl.run(root, [gate]).results[0]
    assert first.files_scanned == 2
    (root / "other.py").write_text("def f(x: int) -> int:\n    return x * 2\n")
    second = gl.run(root, [gate]).results[0]
    assert gate.scans[-1] == ["other.py"]
    assert (second.files_scanned, second.cached) == (1, False)
    assert {f.fingerprint for f in second.findings} == {f.fingerprint for f in first.findings}


def test_config_change_invalidates_the_cache(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    gate = CountingComplexity()
    gl.run(root, [gate])
    loose = Settings(gates={"complexity": GatePolicy.model_validate({"max": 30})})
    result = gl.run(root, [gate], loose).results[0]
    assert (result.cached, result.status) == (False, GateStatus.PASSED)
    assert len(gate.scans) == 2


def test_fingerprints_survive_line_shifts(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    before = gl.run(root, [ComplexityGate()]).results[0].findings
    source = root / "tangled.py"
    source.write_text("# a new header comment\n\n\n" + source.read_text())
    after = gl.run(root, [ComplexityGate()]).results[0].findings
    assert [f.line + 3 for f in before] == [f.line for f in after]
    assert [f.fingerprint for f in before] == [f.fingerprint for f in after]
    assert len({f.fingerprint for f in after}) == len(after)


def _waiver(**kw: Any) -> Waiver:
    base = {"reason": "legacy router, rewrite planned", "owner": "team-a", "expires": "2099-01-01"}
    return Waiver.model_validate({**base, **kw})


def test_waiver_by_fingerprint_and_by_rule_and_path(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    findings = gl.run(root, [ComplexityGate()]).results[0].findings
    route = next(f for f in findings if f.message.startswith("route has"))
    settings = Settings(
        waivers=[
            _waiver(fingerprint=route.fingerprint),
            _waiver(rule="cyclomatic-complexity", path="tangled.*", gate="complexity"),
        ]
    )
    result = gl.run(root, [ComplexityGate()], settings).results[0]
    assert result.status is GateStatus.PASSED
    assert all(f.waived_by == "legacy router, rewrite planned" for f in result.findings)
    only_route = Settings(waivers=[_waiver(fingerprint=route.fingerprint)])
    partly = gl.run(root, [ComplexityGate()], only_route).results[0]
    assert partly.status is GateStatus.FAILED
    assert [f.waived_by is not None for f in partly.findings].count(True) == 1
    other_path = Settings(waivers=[_waiver(rule="cyclomatic-complexity", path="src/*")])
    assert gl.run(root, [ComplexityGate()], other_path).results[0].status is GateStatus.FAILED


def test_expired_waiver_stops_applying_and_is_reported(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    expired = _waiver(rule="cyclomatic-complexity", expires="2024-01-31")
    report = gl.run(root, [ComplexityGate()], Settings(waivers=[expired]))
    assert report.results[0].status is GateStatus.FAILED
    assert all(f.waived_by is None for f in report.results[0].findings)
    assert [w["expires"] for w in report.expired_waivers] == ["2024-01-31"]
    on_the_day = gl.run(
        root, [ComplexityGate()], Settings(waivers=[expired]), today=dt.date(2024, 1, 31)
    )
    assert on_the_day.results[0].status is GateStatus.PASSED
    assert on_the_day.expired_waivers == []


def test_fail_fast_stops_starting_gates(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    gates = [ComplexityGate(), BanditGate()]  # complexity is cheaper, starts first, fails
    report = gl.run(root, gates, fail_fast=True, jobs=1)
    status = {r.gate: (r.status, r.message) for r in report.results}
    assert status["complexity"][0] is GateStatus.FAILED
    assert status["bandit"] == (GateStatus.NOT_EVALUATED, "fail-fast")
    assert not report.passed
    without = gl.run(root, gates, fail_fast=False, jobs=1, cache_dir=None)
    assert {r.gate: r.status for r in without.results}["bandit"] is GateStatus.PASSED


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.assay]\nfail_fast = true\ncolour = "red"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.key == "tool.assay.colour"
    assert str(config) in str(err.value)


def test_bad_gate_option_names_key_and_file(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    for body, key in [
        ("max = 'ten'", "gates.complexity.max"),
        ("maximum = 3", "gates.complexity.maximum"),
    ]:
        config = root / "assay.toml"
        config.write_text(f"[gates.complexity]\n{body}\n")
        with pytest.raises(ConfigError) as err:
            gl.run(root, [ComplexityGate()], load_settings(config))
        assert err.value.key == key
        assert str(config) in str(err.value)
    (root / "assay.toml").unlink()
    pyproject = root / "pyproject.toml"
    pyproject.write_text("[tool.assay.gates.complexity]\nmax = -1\n")
    with pytest.raises(ConfigError) as err:
        gl.run(root, [ComplexityGate()], load_settings(pyproject))
    assert err.value.key == "tool.assay.gates.complexity.max"
    assert str(pyproject) in str(err.value)


def test_missing_tool_is_an_error_with_its_message(project: Any, gl: SimpleNamespace) -> None:
    class Absent(BanditGate):
        executable = "bandit-that-is-not-installed"

    result = gl.run(project("clean"), [Absent()]).results[0]
    assert result.status is GateStatus.ERROR
    assert "bandit-that-is-not-installed" in result.message
    assert "not installed" in result.message
    assert result.blocking


def test_crashing_tool_is_an_error_with_its_own_words(
    project: Any, gl: SimpleNamespace, tmp_path: Path
) -> None:
    fake = tmp_path / "fake-ruff"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "ruff 9.9.9"; exit 0; fi\n'
        'echo "ruff: internal failure, segment table corrupt" >&2\nexit 70\n'
    )
    fake.chmod(0o755)

    class Crashing(ComplexityGate):
        executable = str(fake)

    result = gl.run(project("complexity"), [Crashing()]).results[0]
    assert result.status is GateStatus.ERROR
    assert "segment table corrupt" in result.message
    assert "exited 70" in result.message
    assert result.tool_version == "9.9.9"


def test_no_python_means_no_gate_applies(project: Any, gl: SimpleNamespace) -> None:
    report = gl.run(project("nopython"), [RuffGate(), ComplexityGate(), DepAuditGate()])
    assert {r.status for r in report.results} == {GateStatus.NOT_APPLICABLE}
    assert report.summary == "no gate applies"
    assert not report.passed


def test_excludes_keep_files_out_of_every_gate(project: Any, gl: SimpleNamespace) -> None:
    root = project("complexity")
    report = gl.run(root, [ComplexityGate()], Settings(exclude=["tangled.py"]))
    assert report.results[0].status is GateStatus.NOT_APPLICABLE


def test_depaudit_offline_is_not_evaluated_never_passed(
    project: Any, gl: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project("depaudit")
    closed = GatePolicy.model_validate({"no_deps": True, "osv_url": "http://127.0.0.1:9/v1/query"})
    result = gl.run(root, [DepAuditGate()], Settings(gates={"depaudit": closed})).results[0]
    assert result.status is GateStatus.NOT_EVALUATED
    assert "unreachable" in result.message
    assert not result.required
    # The default service (PyPI) behind a proxy that refuses connections: same verdict.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    pinned = GatePolicy.model_validate({"no_deps": True})
    result = gl.run(root, [DepAuditGate()], Settings(gates={"depaudit": pinned})).results[0]
    assert result.status is GateStatus.NOT_EVALUATED, result.message
    assert result.cached is False
    required = GatePolicy.model_validate({"no_deps": True, "required": True})
    report = gl.run(root, [DepAuditGate()], Settings(gates={"depaudit": required}))
    assert not report.passed  # a required audit with no verdict blocks


def test_depaudit_other_failures_are_errors_not_offline(
    project: Any, gl: SimpleNamespace, osv_url: str
) -> None:
    root = project("depaudit")
    (root / "requirements.txt").write_text("requests>=2\n")
    policy = GatePolicy.model_validate({"no_deps": True, "osv_url": osv_url})
    result = gl.run(root, [DepAuditGate()], Settings(gates={"depaudit": policy})).results[0]
    assert result.status is GateStatus.ERROR
    assert "not pinned" in result.message


def test_tools_resolve_beside_the_interpreter_not_only_on_path(
    project: Any, gl: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", os.defpath)
    result = gl.run(project("clean"), [ComplexityGate()], cache_dir=None).results[0]
    assert result.status is GateStatus.PASSED

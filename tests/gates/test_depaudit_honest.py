"""Issue 12, point 7: a dependency audit that audited nothing never says "passed".

pip-audit lists a dependency it could not audit with a ``skip_reason`` (seen here for every
package: "Dependency not found on PyPI and could not be audited"); the gate used to pass.
"""

from __future__ import annotations

from assay.gates.base import GateResult, GateStatus
from assay.gates.depaudit import not_audited

NOT_FOUND = "Dependency not found on PyPI and could not be audited"


def test_every_dependency_unaudited_is_not_evaluated_naming_them() -> None:
    report = {
        "dependencies": [
            {"name": "internal-lib", "skip_reason": NOT_FOUND},
            {"name": "other-lib", "skip_reason": NOT_FOUND},
        ]
    }
    said = not_audited(report)
    assert said is not None
    assert said.startswith("2 of 2 dependencies could not be audited")
    assert f"internal-lib: {NOT_FOUND}" in said and "other-lib" in said


def test_audited_dependencies_have_nothing_to_say() -> None:
    report = {"dependencies": [{"name": "idna", "version": "3.7", "vulns": []}]}
    assert not_audited(report) is None
    assert not_audited({"dependencies": []}) is None


def test_many_unaudited_are_summed_up() -> None:
    deps = [{"name": f"lib{i}", "skip_reason": NOT_FOUND} for i in range(8)]
    said = not_audited({"dependencies": [*deps, {"name": "ok", "version": "1", "vulns": []}]})
    assert said is not None and said.startswith("8 of 9 dependencies")
    assert said.endswith("; and 3 more)")


def test_a_required_gate_that_is_not_evaluated_fails_the_verdict() -> None:
    result = GateResult(
        gate="depaudit", tool="pip-audit", tool_version="2", status=GateStatus.NOT_EVALUATED,
        required=True, duration_s=0.0,
        message="2 of 2 dependencies could not be audited",
    )  # fmt: skip
    assert result.blocking

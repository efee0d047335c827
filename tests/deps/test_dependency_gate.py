"""Issue 13, point 2: the checker the architect's output validator calls (`DependencyGate.check`)
with real uv, pip, PyPI and pip-audit: a resolution failure comes back as the reason, a refusal is
told to `on_refused` every time the design comes back, and an audit that could not reach its
service is recorded as such on the accepted lock, never as "no vulnerabilities"."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assay.config import GatePolicy, Settings
from assay.deps.prepare import DependencyGate
from assay.deps.wheelhouse import Wheelhouse
from assay.messages import PinnedDependency as Dep
from tests.osv_service import OsvService

UNREACHABLE = "http://127.0.0.1:9/v1/query"  # the discard port: nothing listens there


def settings_for(osv_url: str) -> Settings:
    return Settings(gates={"depaudit": GatePolicy.model_validate({"osv_url": osv_url})})


async def test_a_resolution_failure_goes_back_with_uvs_reason_and_is_told_each_time(
    tmp_path: Path, wheelhouse: Wheelhouse, osv: OsvService
) -> None:
    told: list[tuple[Sequence[str], list[str]]] = []
    gate = DependencyGate(
        settings_for(osv.url), tmp_path, wheelhouse=wheelhouse,
        on_refused=lambda asked, why: told.append((asked, why)),
    )  # fmt: skip
    deps = [Dep(name="idna", spec=">=99")]
    reason = await gate.check(deps)
    assert reason is not None
    assert reason.startswith("the dependencies cannot be resolved: ")
    assert "idna" in reason and "99" in reason
    assert await gate.check(deps) == reason  # the same design again: the same answer
    assert told == [(("idna>=99",), [reason])] * 2
    assert gate.accepted is None and osv.queries == []


async def test_an_accepted_lock_says_it_was_not_audited_when_the_service_is_unreachable(
    tmp_path: Path, wheelhouse: Wheelhouse
) -> None:
    gate = DependencyGate(settings_for(UNREACHABLE), tmp_path, wheelhouse=wheelhouse)
    assert await gate.check([Dep(name="idna", spec="==3.6")]) is None
    assert gate.accepted is not None
    record = gate.accepted.record()
    assert record["vulnerabilities"] == []
    assert record["not_audited"] is not None
    assert record["not_audited"].startswith("no verdict: the package index or vulnerability")
    assert [(c["name"], c["version"], c["licence"]) for c in record["components"]] == [
        ("idna", "3.6", "BSD-3-Clause")
    ]


async def test_a_design_without_dependencies_needs_no_check_and_clears_the_accepted_set(
    tmp_path: Path, wheelhouse: Wheelhouse, osv: OsvService
) -> None:
    gate = DependencyGate(settings_for(osv.url), tmp_path, wheelhouse=wheelhouse)
    assert await gate.check([Dep(name="idna")]) is None and gate.accepted is not None
    assert await gate.check([]) is None
    assert gate.accepted is None

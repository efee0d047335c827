"""The feedback composer: dedupe, rank by severity, cap, name only the files involved."""

from __future__ import annotations

from assay.factory.feedback import Rejection, compose_feedback
from assay.factory.strata import PassHistory, RegressedScenario, next_tier
from assay.factory.validator import ScenarioOutcome, ValidationResult, sanitize
from assay.gates.base import Finding, GateReport, GateResult, GateStatus, SeverityName


def _report(
    findings: list[tuple[str, SeverityName, str, int]], *, required: bool = True
) -> GateReport:
    result = GateResult(
        gate="ruff", tool="ruff", tool_version="1", status=GateStatus.FAILED, required=required,
        duration_s=0.0,
        findings=[Finding(gate="ruff", rule_id=r, severity=s, file=f, line=n, message=f"{r} here")
                  for r, s, f, n in findings],
    )  # fmt: skip
    return GateReport(root=".", passed=False, summary="", results=[result], duration_s=0.0)


def test_dedupes_ranks_and_names_files() -> None:
    report = _report([("E501", "low", "a.py", 3), ("E501", "low", "a.py", 3),
                      ("F821", "high", "b.py", 9), ("S105", "critical", "c.py", 1)])  # fmt: skip
    fb = compose_feedback(1, report=report, validation=None)
    assert [(i.rule_id, i.count) for i in fb.items] == [("S105", 1), ("F821", 1), ("E501", 2)]
    assert fb.files == ["a.py", "b.py", "c.py"]


def test_cap_keeps_the_most_severe_and_counts_the_rest() -> None:
    report = _report([(f"R{i}", "low", f"f{i}.py", 1) for i in range(30)]
                     + [("F821", "high", "x.py", 2)])  # fmt: skip
    fb = compose_feedback(1, report=report, validation=None, max_items=5)
    assert fb.items[0].rule_id == "F821" and len(fb.items) == 5 and fb.omitted == 26
    assert "f29.py" not in fb.files
    small = compose_feedback(1, report=report, validation=None, max_chars=200)
    assert sum(len(i.message) for i in small.items) < 200 and small.omitted > 0


def test_advisory_gates_and_rejections() -> None:
    fb = compose_feedback(
        1, report=_report([("E501", "low", "a.py", 1)], required=False), validation=None,
        rejections=[Rejection("tests/test_a.py", "protected file")],
    )  # fmt: skip
    assert [i.source for i in fb.items] == ["guard"]
    assert fb.files == []  # a protected file is not sent for editing


def test_leak_levels() -> None:
    full = ValidationResult(satisfaction=50.0, scenarios=[
        ScenarioOutcome(id="s1", title="lists items", passed=False, score=0, observed="GET -> 500",
                        reasons="judge: SECRET expectation text"),
    ])  # fmt: skip
    none = compose_feedback(1, report=None, validation=sanitize(full, "none"))
    titles = compose_feedback(1, report=None, validation=sanitize(full, "titles"))
    reasons = compose_feedback(1, report=None, validation=sanitize(full, "reasons"))
    assert "lists items" not in none.model_dump_json() and "50.0" in none.items[0].message
    assert "GET -> 500" in titles.items[0].message and "SECRET" not in titles.model_dump_json()
    assert "SECRET" in reasons.items[0].message


def test_regressions_are_named_only_as_far_as_the_leak_level_names_scenarios() -> None:
    full = ValidationResult(satisfaction=50.0, scenarios=[
        ScenarioOutcome(id="s1", title="lists items", passed=False, score=0, observed="GET -> 500"),
        ScenarioOutcome(id="s2", title="adds items", passed=True, score=100),
    ])  # fmt: skip
    back = [RegressedScenario(id="s1", passed_in=2)]
    none = sanitize(full, "none")
    assert none.scenarios == [] and none.verdicts == {"s1": False, "s2": True}
    hidden = compose_feedback(3, report=None, validation=none, regressions=back)
    assert "lists items" not in hidden.model_dump_json() and "s1" not in hidden.model_dump_json()
    assert hidden.items[0].severity == "critical"
    assert "1 holdout scenario(s) that passed in earlier iterations fail now" in (
        hidden.items[0].message
    )
    named = compose_feedback(3, report=None, validation=sanitize(full, "titles"), regressions=back)
    assert named.items[0].message.startswith("regression: lists items passed in iteration 2")
    assert "GET -> 500" in named.items[1].message  # the failure itself, as before


def test_pass_history_finds_what_passed_before_and_fails_now() -> None:
    history = PassHistory()
    assert history.check(1, {"a": True, "b": False}) == []
    assert history.check(2, {"a": False, "b": True}) == [RegressedScenario(id="a", passed_in=1)]
    # still failing: still a regression (not only against the last iteration)
    assert history.check(3, {"a": False, "b": True}) == [RegressedScenario(id="a", passed_in=1)]
    assert history.check(4, {"b": True}) == []  # not run (a tier not reached): no regression
    assert history.check(5, {"a": True, "b": False}) == [RegressedScenario(id="b", passed_in=2)]
    assert next_tier([1, 2, 3], 1) == 2 and next_tier([1, 3], 1) == 3
    assert next_tier([1, 2, 3], 3) is None and next_tier([], 1) is None

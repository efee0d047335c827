"""The expect reader and the deterministic checks."""

from __future__ import annotations

from pathlib import Path

from assay.scenarios.checks import (
    Check,
    HeaderCheck,
    JsonCheck,
    SchemaCheck,
    StatusCheck,
    TextCheck,
    from_assertions,
)
from assay.scenarios.expect import compile_expectation, split_sentences
from assay.scenarios.loader import load_dir
from assay.scenarios.model import Assertions
from assay.scenarios.observation import Observation
from assay.scenarios.runner import step_checks

COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"


def _obs(body: str, status: int = 200) -> Observation:
    return Observation(kind="request", action="GET /", status=status, body=body)


def _descriptions(text: str) -> list[str]:
    return [c.description for c in compile_expectation(text).checks]


def test_status_and_exit_code_only_need_no_model() -> None:
    assert compile_expectation("Status 404.").deterministic
    assert _descriptions("Status 404.") == ["status 404"]
    assert _descriptions("Exit code 1.") == ["exit code 1"]


def test_sentences_are_read_fully_or_left_for_the_judge() -> None:
    got = compile_expectation(
        "Status 400. Response body contains an 'error' field with a message about the name."
    )
    assert [c.description for c in got.checks] == ["status 400"]
    assert got.remainder == [
        "Response body contains an 'error' field with a message about the name."
    ]
    assert not got.deterministic


def test_field_sentences_become_json_checks() -> None:
    assert _descriptions(
        "Status 201. Response has key 'test-key', value 'hello world', created_at as ISO "
        "timestamp, and expires_at is null."
    ) == [
        "status 201",
        "$.key equals 'test-key'",
        "$.value equals 'hello world'",
        "$.created_at is an ISO 8601 timestamp",
        "$.expires_at equals None",
    ]
    assert _descriptions("Response has 'keys' array containing 'a' and 'b' but not 'c'.") == [
        "$.keys type 'array'",
        "$.keys contains 'a'",
        "$.keys contains 'b'",
        "$.keys not contains 'c'",
    ]


def test_quotes_hide_full_stops() -> None:
    assert split_sentences("Value is 'a. b'. Status 200.") == ["Value is 'a. b'.", "Status 200."]


def test_json_checks_decide() -> None:
    obs = _obs('{"items": [{"id": 1, "name": "a"}], "total": 3, "ok": true}')
    assert JsonCheck("$.items", "length", 1).evaluate(obs, []).passed
    assert JsonCheck("$.items", "each_has", ["id", "name"]).evaluate(obs, []).passed
    assert not JsonCheck("$.items", "each_has", ["created_at"]).evaluate(obs, []).passed
    assert not JsonCheck("$.ok", "equals", 1).evaluate(obs, []).passed  # true is not 1
    assert JsonCheck("$.total", "type", "integer").evaluate(obs, []).passed
    miss = JsonCheck("$.nope", "exists").evaluate(obs, [])
    assert not miss.passed and "missing" in miss.detail
    earlier = _obs('{"total": 3}')
    assert JsonCheck("$.total", "same_as_before").evaluate(obs, [earlier]).passed
    assert not JsonCheck("$.total", "same_as_before").evaluate(obs, [_obs('{"total": 4}')]).passed
    assert not JsonCheck("$.total", "min", 1).evaluate(_obs("not json"), []).passed


def test_assert_block_checks() -> None:
    block = Assertions.model_validate(
        {
            "status": [200, 201],
            "headers": {"Content-Type": "json"},
            "json": [{"path": "$.name", "matches": "^It"}],
            "schema": {"type": "object", "required": ["name"]},
            "body_contains": "Item",
        }
    )
    checks = from_assertions(block)
    assert [type(c) for c in checks] == [
        StatusCheck,
        HeaderCheck,
        JsonCheck,
        SchemaCheck,
        TextCheck,
    ]
    obs = Observation(
        kind="request",
        action="GET /",
        status=201,
        headers={"content-type": "application/json"},
        body='{"name": "Item"}',
    )
    assert all(c.evaluate(obs, []).passed for c in checks)
    bad = _obs('{"title": "x"}', status=500)
    failed = [c.description for c in checks if not c.evaluate(bad, []).passed]
    assert len(failed) == len(checks)


def _decided_without_model(checks: list[Check], rest: list[str]) -> bool:
    return bool(checks) and not rest


def test_compat_share_decided_without_a_model_is_at_least_half() -> None:
    steps = [st for sc in load_dir(COMPAT).scenarios for st in sc.steps]
    decided = [st for st in steps if _decided_without_model(*step_checks(st))]
    assert len(steps) == 119  # 77 request and exec steps; auction-house 7, kanban-board 35
    assert len(decided) / len(steps) >= 0.5

"""The loader and linter: the compat corpus loads unchanged; every problem has file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.scenarios.loader import ScenarioLoadError, load_dir, load_file
from tests.conftest import line_with

COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"


@pytest.mark.parametrize(
    "folder",
    ["hello-api", "kv-store", "todo-app", "octopus-garden", "auction-house", "kanban-board"],
)
def test_compat_folder_loads_with_zero_errors(folder: str) -> None:
    result = load_dir(COMPAT / folder / "scenarios")
    assert result.errors == []
    assert len(result.scenarios) == result.files > 0
    for sc in result.scenarios:
        assert sc.steps, sc.id
        assert all(step.line > 0 and step.file.endswith(".yaml") for step in sc.steps)


def test_compat_details_survive_loading() -> None:
    (ttl,) = load_dir(COMPAT / "kv-store" / "scenarios" / "ttl.yaml").scenarios
    assert ttl.weight == 1.5
    wait = ttl.steps[1]
    assert wait.delay == 3.0
    assert wait.retry is not None and (wait.retry.attempts, wait.retry.interval) == (3, 1.0)
    (crud,) = load_dir(COMPAT / "todo-app" / "scenarios" / "crud.yaml").scenarios
    assert crud.setup[0].capture[0].jsonpath == "$.api_key"
    assert crud.steps[0].request is not None
    assert crud.steps[0].request.headers == {"Authorization": "Bearer {api_key}"}
    assert crud.steps[0].line == 29  # the "- description:" line


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _rules(path: Path) -> dict[str, tuple[int, int, str]]:
    return {p.rule: (p.line, p.col, p.severity) for p in load_file(path).problems}


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "id: x\nsteps:\n  - request: {method: GET, path: /\n")
    (problem,) = load_file(path).problems
    assert problem.rule == "SC002" and problem.severity == "error"
    assert problem.line == 4 and str(problem).startswith(f"{path}:4:")


def test_unknown_step_type_is_an_error_at_the_step(tmp_path: Path) -> None:
    path = _write(tmp_path, "id: x\nsteps:\n  - description: d\n    smtp: {to: a}\n")
    problems = load_file(path).problems
    (sc015,) = [p for p in problems if p.rule == "SC015"]
    assert (sc015.line, sc015.col, sc015.severity) == (3, 5, "error")
    assert "'smtp'" in sc015.message


def test_must_rules_are_errors_should_rules_warnings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "id: Bad Id\ntype: weird\nweight: -1\nsteps:\n"
        "  - request: {method: FETCH, path: '/x/{nope}'}\n"
        "    capture:\n      - name: 1bad\n        jsonpath: items[0]\n"
        "  - exec: {command: ls, timeout: soon}\n"
        "  - request: {method: GET, path: /, body: 1}\n    exec: {command: ls}\n",
    )
    rules = _rules(path)
    for rule in ("SC007", "SC020", "SC026", "SC029", "SC037", "SC032"):
        assert rules[rule][2] == "error", rule
    for rule in ("SC008", "SC010", "SC016", "SC017", "SC030"):
        assert rules[rule][2] == "warning", rule
    assert rules["SC030"][0] == 5


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert _rules(_write(tmp_path, "  \n"))["SC001"][2] == "error"
    assert "SC004" in _rules(_write(tmp_path, "- a\n- b\n", "list.yaml"))
    assert {"SC005", "SC011"} <= set(_rules(_write(tmp_path, "description: x\n", "n.yaml")))


def test_duplicate_ids_in_one_folder(tmp_path: Path) -> None:
    body = "id: same\nsteps:\n  - description: d\n    exec: {command: 'true'}\n    expect: Ok.\n"
    _write(tmp_path, body, "a.yaml")
    _write(tmp_path, body, "b.yaml")
    result = load_dir(tmp_path)
    assert [p.rule for p in result.errors] == ["SC031"]
    with pytest.raises(ScenarioLoadError, match="SC031"):
        result.raise_for_errors()


def test_assert_block_is_validated(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "id: x\nsteps:\n  - description: d\n    request: {method: GET, path: /}\n"
        "    assert:\n      status: 200\n      json:\n        - path: $.a\n          equalz: 1\n",
    )
    (problem,) = [p for p in load_file(path).problems if p.severity == "error"]
    assert problem.rule == "AS010" and problem.line == 6 and "equalz" in problem.message
    good = _write(
        tmp_path,
        "id: y\nsteps:\n  - description: d\n    request: {method: GET, path: /}\n"
        "    assert:\n      status: [200, 201]\n      json:\n        - {path: $.a, type: array}\n"
        "      schema: {type: object, required: [a]}\n      max_latency_ms: 500\n",
        "good.yaml",
    )
    result = load_file(good)
    assert result.errors == []
    assertions = result.scenarios[0].steps[0].assertions
    assert assertions is not None and assertions.status == [200, 201]


def test_lint_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "lint", str(COMPAT)]) == 0
    out = capsys.readouterr().out
    assert "40 scenario(s): 0 error(s)" in out
    bad = _write(tmp_path, "id: x\nsteps:\n  - description: d\n    smtp: {}\n")
    assert main(["scenarios", "lint", str(bad)]) == 1
    line_with(capsys.readouterr().out, f"{bad}:3:5: SC015")
    assert main(["scenarios", "lint", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("body", "rule", "severity"),
    [
        ("ws: [a]", "SC060", "error"),
        ("ws: {send: hi}", "SC061", "warning"),
        ("ws: {url: /ws, receive: {timeout: soon}}", "SC062", "error"),
        ("ws: {url: /ws, receive: {count: 0}}", "SC063", "error"),
        ("ws: {url: /ws, receive: 3}", "AS034", "error"),
        ("ws: {url: 'http://elsewhere/ws'}", "AS032", "error"),
        ("browser: [a]", "SC040", "error"),
        ("browser: {url: /}", "SC041", "error"),
        ("browser: {action: hover}", "SC042", "error"),
        ("browser: {action: navigate}", "SC043", "error"),
        ("browser: {action: click}", "SC044", "error"),
        ("browser: {action: fill, value: x}", "SC045", "error"),
        ("browser: {action: fill, selector: input}", "SC046", "error"),
        ("browser: {action: assert, text: x}", "SC047", "error"),
        ("browser: {action: assert, selector: h1}", "SC048", "warning"),
        ("browser: {action: click, selector: a, timeout: 5 seconds}", "SC049", "error"),
        ("browser: {action: assert, selector: a, count: -1}", "AS033", "error"),
        ("browser: {action: navigate, url: 'https://example.org/'}", "AS032", "error"),
    ],
)
def test_ws_and_browser_rules(tmp_path: Path, body: str, rule: str, severity: str) -> None:
    path = _write(tmp_path, f"id: x\nsteps:\n  - description: d\n    expect: e\n    {body}\n")
    rules = _rules(path)
    assert rule in rules and rules[rule][2] == severity, rules


def test_ws_and_browser_steps_load_their_fields(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "id: x\nsteps:\n"
        "  - description: d\n    expect: e\n"
        "    ws: {url: /ws, id: a, send: {op: sub}, receive: {count: 2, timeout: 250ms}}\n"
        "  - description: d\n    expect: e\n"
        "    browser: {action: assert, selector: li, text_absent: x, count: 0, timeout: 2s}\n"
        "    capture: [{name: n, source: count}]\n",
    )
    loaded = load_file(path)
    assert loaded.errors == [] and not any(p.rule == "AS020" for p in loaded.problems)
    ws, browser = loaded.scenarios[0].steps
    assert ws.ws is not None and ws.ws.receive is not None
    assert (ws.ws.url, ws.ws.id, ws.ws.send) == ("/ws", "a", '{"op": "sub"}')
    assert (ws.ws.receive.count, ws.ws.receive.timeout) == (2, 0.25)
    assert browser.browser is not None
    assert (browser.browser.count, browser.browser.timeout) == (0, 2.0)
    assert browser.capture[0].source == "count"

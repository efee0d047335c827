"""Run progress as plain lines: the real loop with scripted models, a printer on a StringIO, and
`line_for` on the payloads users control. Nothing here depends on the clock, the terminal's width
or the temporary path (no line holds a duration or a path of this machine).
"""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import pytest

from assay.cli import main
from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, Progress, RoleModels
from assay.factory.progress_lines import (
    PlainProgress,
    attach,
    line_for,
    plain,
    plain_lines_wanted,
    plain_progress,
)
from assay.gates.bandit import BanditGate
from assay.gates.mypy import MypyGate
from assay.gates.ruff import RuffGate
from assay.ledger import Event, Ledger
from assay.ledger.keys import Signer
from assay.testing import TESTING_MODELS_ENV
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()

PREFIX = re.compile(r"^(run|iter \d+ [a-z-]+( [a-z0-9_.-]+)?): ")
GATE_LINE = re.compile(r"^iter \d+ gate ")
COMMIT = "[0-9a-f]{7}"


def team() -> RoleModels:
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    return RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip


def make_factory(run_dir: Path) -> Factory:
    return Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig()), models=team(),
        gates=[RuffGate(), MypyGate(), BanditGate()], validator=app.validator,
        signer=Signer.generate(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One real run (ruff, mypy, bandit, the review, a holdout scenario) printed to a StringIO."""
    run_dir = tmp_path_factory.mktemp("progress") / "runs" / "r1"
    out = io.StringIO()
    factory = make_factory(run_dir)
    attach(factory, out)
    outcome = asyncio.run(factory.run())
    assert outcome.outcome == "converged" and outcome.iterations == 2
    text = out.getvalue()
    assert text.endswith("\n")
    return run_dir, text.splitlines()


def _index(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines) if re.fullmatch(pattern, line)]
    assert len(found) == 1, (pattern, found, lines)
    return found[0]


def test_every_line_is_whole_printable_and_has_a_stable_prefix(
    printed: tuple[Path, list[str]],
) -> None:
    _run_dir, lines = printed
    assert lines
    for line in lines:
        assert PREFIX.match(line), line
        assert line.isprintable(), line


def test_the_lines_are_the_ledger_in_order_plus_one_per_finished_gate(
    printed: tuple[Path, list[str]],
) -> None:
    run_dir, lines = printed
    with Ledger.open(run_dir, create=False) as ledger:
        expected = [line for e in ledger.events() if (line := line_for(e)) is not None]
    assert [line for line in lines if not GATE_LINE.match(line)] == expected


def test_each_coder_call_shows_its_model_and_tokens(printed: tuple[Path, list[str]]) -> None:
    _run_dir, lines = printed
    for n in (1, 2):
        calls = [line for line in lines if line.startswith(f"iter {n} coder: model call to ")]
        replies = [line for line in lines if line.startswith(f"iter {n} coder: model reply ")]
        # the scripted coder reads core.py through its tool first: two requests per iteration
        assert calls == [
            f"iter {n} coder: model call to test:coder (1 message)",
            f"iter {n} coder: model call to test:coder (3 messages)",
        ]
        assert len(replies) == 2
        for reply in replies:
            assert re.fullmatch(
                rf"iter {n} coder: model reply from test:coder, "
                r"[1-9][\d,]* tokens in / [1-9][\d,]* out, unpriced",
                reply,
            ), reply
    assert "iter 0 architect: design for package app, 1 module(s), 2 planned file(s)" in lines
    assert "iter 0 tester: 1 test file(s): tests/test_core.py" in lines
    assert (
        "iter 1 coder: changeset of 2 file(s), 0 deletion(s): src/app/__init__.py, src/app/core.py"
    ) in lines


def test_each_gate_verdict_as_it_finishes_then_the_summary(
    printed: tuple[Path, list[str]],
) -> None:
    _run_dir, lines = printed
    for n, verdict in ((1, "failed"), (2, "passed")):
        gates = [line for line in lines if line.startswith(f"iter {n} gate ")]
        # gates run concurrently: the order they finish in is not fixed, the set is
        assert sorted(gates) == [
            f"iter {n} gate {g}: {verdict}" for g in ("bandit", "mypy", "ruff")
        ]
        summary = _index(lines, rf"iter {n} gates: .*")
        assert all(lines.index(g) < summary for g in gates)
    first = lines[_index(lines, r"iter 1 gates: .*")]
    for part in ("ruff failed (", "mypy failed (1)", "bandit failed (1)"):
        assert part in first, first
    assert first.endswith("; 0 of 3 required passed")
    second = lines[_index(lines, r"iter 2 gates: .*")]
    assert sorted(second.removeprefix("iter 2 gates: ").split("; ")[0].split(", ")) == [
        "bandit passed", "mypy passed", "ruff passed",
    ]  # fmt: skip
    assert second.endswith("; 3 of 3 required passed")


def test_review_scenarios_decision_commit_and_outcome(printed: tuple[Path, list[str]]) -> None:
    _run_dir, lines = printed
    # The scenarios run while the gates and the review do: after the commit, before the feedback.
    commit_1 = _index(lines, rf'iter 1 commit: {COMMIT} "iteration 1: write core"')
    scenarios_1 = _index(lines, r"iter 1 scenarios: satisfaction 0\.0/100, 0 of 1 passed")
    feedback_1 = _index(lines, r"iter 1 feedback: \d+ item\(s\) for the coder, \d+ file\(s\)")
    assert commit_1 < scenarios_1 < feedback_1
    order = [
        commit_1,
        _index(lines, r"iter 1 gates: .*"),
        _index(lines, r"iter 1 review: reject \(1 finding\): weak hash"),
        feedback_1,
        _index(lines, r"iter 1 decision: continue - score [\d.]+, best [\d.]+; [\d,]+ tokens, .*"),
        _index(lines, rf'iter 2 commit: {COMMIT} "iteration 2: fix what the feedback names"'),
        _index(lines, r"iter 2 review: approve \(0 findings\): nothing found"),
        _index(
            lines,
            r"iter 2 decision: converged - all required gates pass \(score 100\.0\); "
            r"[\d,]+ tokens, \$0\.0000",
        ),
        _index(
            lines,
            r"run: converged after 2 iteration\(s\) - all required gates pass \(score 100\.0\); "
            rf"best iteration 2 \(score 100\.0\); workspace {COMMIT}; [\d,]+ tokens, \$0\.0000",
        ),
        _index(lines, r"run: ledger sealed, signed checkpoint over events 1\.\.\d+"),
    ]
    assert order == sorted(order)
    assert lines[0].startswith('run: started greeter ("Greeter"), leak titles; models ')
    assert lines[-1].startswith("run: ledger sealed")


def test_resuming_a_finished_run_prints_no_step_again(printed: tuple[Path, list[str]]) -> None:
    run_dir, _lines = printed
    out = io.StringIO()
    factory = make_factory(run_dir)
    attach(factory, out)
    assert asyncio.run(factory.run()).outcome == "converged"
    assert out.getvalue() == ""


# -- line_for on what users, tools and models control -------------------------------------------


def event(kind: str, payload: dict[str, Any], seq: int = 7) -> Event:
    return Event(
        seq=seq, run_id="r", kind=kind, time="2026-01-01T00:00:00.000000Z", step=None,
        payload=payload, prev_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip


def one_line(e: Event) -> str:
    line = line_for(e)
    assert line is not None
    assert "\n" not in line and "\r" not in line and line.isprintable(), line
    return line


def gate(name: str, status: str, **over: Any) -> dict[str, Any]:
    base = {"gate": name, "status": status, "required": True, "fail_on": "low", "findings": []}
    return base | over


def test_a_newline_in_a_gate_message_stays_one_escaped_line() -> None:
    message = "mypy crashed\nTraceback (most recent call last):\n\x1b[31m[bold red]boom[/]"
    report = {"results": [gate("ruff", "passed"), gate("mypy", "error", message=message)]}
    line = one_line(event("gate.result", {"iteration": 3, "report": report}))
    assert line == (
        "iter 3 gates: ruff passed, mypy error [mypy crashed\\nTraceback (most recent call last):"
        "\\n\\x1b[31m[bold red]boom[/]]; 1 of 2 required passed"
    )


def test_markup_and_control_characters_in_names_are_literal() -> None:
    files = [{"path": "src/[red]x[/red].py"}, {"path": "a\nb.py"}, {"path": "evil\u202etxt.py"}]
    message = {"kind": "changeset", "files": files, "deletions": [], "rationale": ""}
    line = one_line(event("message", {"iteration": 2, "sender": "coder", "message": message}))
    assert line == (
        "iter 2 coder: changeset of 3 file(s), 0 deletion(s): "
        "src/[red]x[/red].py, a\\nb.py, evil\\u202etxt.py"
    )
    rejected = {"iteration": 1, "role": "coder", "path": "tests/\r\nx.py", "reason": "protected"}
    assert one_line(event("edit.rejected", rejected)) == (
        "iter 1 coder: edit rejected: tests/\\r\\nx.py - protected"
    )
    review = {"iteration": 1, "verdict": "reject", "findings": [{}], "summary": "line\u2028two"}
    assert one_line(event("security.review", review)) == (
        "iter 1 review: reject (1 finding): line\\u2028two"
    )


def test_long_text_is_cut_not_wrapped() -> None:
    reason = "x" * 500
    line = one_line(
        event("loop.decision", {"iteration": 1, "decision": "stalled", "reason": reason})
    )
    assert line == f"iter 1 decision: stalled - {'x' * 157}...; 0 tokens, unpriced"


def test_only_blocking_unwaived_findings_are_counted() -> None:
    findings = [
        {"severity": "high"},
        {"severity": "low"},  # below fail_on
        {"severity": "critical", "waived_by": "reviewed"},
    ]
    result = gate("bandit", "failed", fail_on="medium", findings=findings)
    assert one_line(event("gate.result", {"iteration": 1, "result": result})) == (
        "iter 1 gates: bandit failed (1); 0 of 1 required passed"
    )


def test_missing_keys_never_raise() -> None:
    for kind in (
        "run.started", "model.request", "model.response", "gate.result", "security.review",
        "scenario.result", "loop.decision", "edit.rejected", "workspace.commit", "run.finished",
        "checkpoint", "approval",
    ):  # fmt: skip
        assert PREFIX.match(one_line(event(kind, {}))), kind
    assert one_line(event("model.response", {})) == (
        "iter 0 unknown: model reply from ?, 0 tokens in / 0 out, unpriced"
    )
    assert one_line(event("gate.result", {"report": {"results": "junk"}})) == (
        "iter 0 gates: none run; 0 of 0 required passed"
    )


def test_costs_errors_and_events_without_a_line() -> None:
    reply = {"iteration": 4, "role": "coder", "model": "openai:gpt-4.1", "tokens_in": 12345,
             "tokens_out": 678, "cost_usd": 0.0031}  # fmt: skip
    assert one_line(event("model.response", reply)) == (
        "iter 4 coder: model reply from openai:gpt-4.1, 12,345 tokens in / 678 out, $0.0031"
    )
    failed = {"iteration": 2, "score": 0, "scenarios": [], "error": "service never healthy\n"}
    assert one_line(event("scenario.result", failed)) == (
        "iter 2 scenarios: satisfaction 0.0/100; error: service never healthy\\n"
    )
    spec = {"iteration": 0, "sender": "human", "message": {"kind": "spec", "name": "x"}}
    assert line_for(event("message", spec)) is None
    verdict = {
        "iteration": 1,
        "sender": "security-reviewer",
        "message": {"kind": "security-review"},
    }
    assert line_for(event("message", verdict)) is None
    assert one_line(event("plugin.note\n", {}, seq=12)) == "event 12: plugin.note\\n"


def test_plain_escapes_only_what_does_not_print() -> None:
    assert plain("naïve [b]x[/b] ok") == "naïve [b]x[/b] ok"
    assert plain("a\tb\x00c\x7fd") == "a\\tb\\x00c\\x7fd"
    assert plain("abcdef", limit=5) == "ab..."


# -- the printer --------------------------------------------------------------------------------


class Broken(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError("the reader went away")


def test_a_broken_stream_stops_the_lines_not_the_run() -> None:
    printer = plain_progress(Broken())
    printer(event("checkpoint", {"seq": 3}))
    printer(event("checkpoint", {"seq": 4}))  # silently ignored from now on


def test_a_formatting_bug_prints_a_generic_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    printer = PlainProgress(out)

    def bug(e: Event) -> str:
        raise KeyError("oops")

    monkeypatch.setattr("assay.factory.progress_lines.line_for", bug)
    printer(event("gate.result", {}, seq=9))
    assert out.getvalue() == "event 9: gate.result\n"


def test_gate_lines_come_once_per_gate_and_iteration() -> None:
    out = io.StringIO()
    printer = PlainProgress(out)
    for phase, iteration, gates in [
        ("gates", 1, {"ruff": "queued", "mypy": "queued"}),
        ("gates", 1, {"ruff": "running", "mypy": "queued"}),
        ("gates", 1, {"ruff": "failed", "mypy": "running"}),
        ("gates", 1, {"ruff": "failed", "mypy": "passed"}),
        ("gates", 1, {"ruff": "failed", "mypy": "passed"}),
        ("security review", 1, {"ruff": "failed", "mypy": "passed", "security-review": "failed"}),
        ("gates", 2, {"ruff": "passed\n"}),
    ]:
        printer.on_progress(Progress(phase=phase, iteration=iteration, gates=gates))
    assert out.getvalue().splitlines() == [
        "iter 1 gate ruff: failed",
        "iter 1 gate mypy: passed",
    ]


@pytest.mark.parametrize(
    ("no_live", "is_terminal", "env", "wanted"),
    [
        (False, True, {}, False),
        (True, True, {}, True),
        (False, False, {}, True),
        (False, True, {"CI": "true"}, True),
        (False, True, {"CI": "1"}, True),
        (False, True, {"CI": "false"}, False),
    ],
)
def test_when_plain_lines_are_wanted(
    no_live: bool, is_terminal: bool, env: dict[str, str], wanted: bool
) -> None:
    assert plain_lines_wanted(no_live=no_live, is_terminal=is_terminal, env=env) is wanted


# -- through the command line ------------------------------------------------------------------

SPEC = "---\nname: greeter\n---\n# Greeter\n\nA library that greets people.\n"
CONFIG = '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n'


def test_assay_run_no_live_prints_one_line_per_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv(TESTING_MODELS_ENV, "scripted_app:models")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "assay.toml").write_text(CONFIG)
    (tmp_path / "spec.md").write_text(SPEC)
    runs = tmp_path / "runs"
    args = ["run", str(tmp_path / "spec.md"), "--config", str(tmp_path / "assay.toml"),
            "--runs-dir", str(runs), "--no-live"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().err.splitlines()
    steps = [line for line in lines if PREFIX.match(line)]
    for pattern in (
        r'run: started greeter \("Greeter"\), leak titles; models .*coder=scripted:coder.*',
        r"iter 1 coder: model call to scripted:coder \(1 message\)",
        r"iter 1 coder: model reply from scripted:coder, [\d,]+ tokens in / [\d,]+ out, unpriced",
        r"iter 1 gate ruff: failed",
        r"iter 1 gate bandit: failed",
        r"iter 1 gates: .*; 0 of 2 required passed",
        r"iter 1 review: reject \(1 finding\): weak hash",
        r"iter 1 decision: continue - .*",
        r"iter 2 gate ruff: passed",
        r"iter 2 gate bandit: passed",
        r"iter 2 decision: converged - all required gates pass \(score 100\.0\); .*",
        r"run: converged after 2 iteration\(s\) - .*",
    ):
        assert any(re.fullmatch(pattern, line) for line in steps), (pattern, lines)

    # resume runs the same printer: a finished run has no step left to print
    (run_dir,) = [p.parent for p in runs.glob("*/ledger.sqlite")]
    assert main(["resume", str(run_dir), "--no-live"]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if PREFIX.match(line)]


def test_feedback_says_which_role_each_item_goes_to() -> None:
    def item(file: str, source: str = "ruff") -> dict[str, Any]:
        return {"source": source, "severity": "medium", "file": file, "message": "m"}

    def feedback(*items: dict[str, Any]) -> Event:
        message = {"kind": "feedback", "iteration": 2, "items": list(items), "files": []}
        return event("message", {"iteration": 2, "sender": "factory", "message": message})

    mixed = feedback(item("src/app.py"), item("tests/test_app.py"), item("src/db.py"))
    assert one_line(mixed) == "iter 2 feedback: 3 item(s) (coder 2, tester 1), 0 file(s)"
    only_tests = feedback(item("tests/test_app.py"))
    assert one_line(only_tests) == "iter 2 feedback: 1 item(s) for the tester, 0 file(s)"

"""Every artifact has an owner, and findings go to their owner; stop reasons say what happened.

Reproduces the two runs of issue 11 with scripted models and the real ruff gate:
(a) a finding in a protected test goes back to the tester, who revises its suite (or, when it
changes nothing, the run stops as blocked, quoting it); (b) a start command with shell syntax goes
back to the architect as an output-validation retry, and the coder can ask for a design change,
which the architect answers with an amended design that the validator then starts.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.architect import design_problem, start_command_problem
from assay.commands._holdout import ScenarioValidator
from assay.config import FactoryConfig, Settings
from assay.errors import RunError
from assay.evidence.report_html import render_html
from assay.evidence.summary import summarize
from assay.factory.feedback import for_role, owner_of, stranded
from assay.factory.loop import Factory, RoleModels, RunOutcome
from assay.factory.progress_lines import line_for
from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger, verify_run
from assay.ledger.keys import Signer
from assay.messages import (
    Changeset,
    Design,
    Feedback,
    FeedbackItem,
    FileChange,
    TestConflict,
    TestFile,
    TestSuite,
)
from assay.scenarios.loader import load_dir
from assay.testing import last_prompt, scripted
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()

# A test the gates find fault with (ruff E741, which no autofix removes), and its revision.
BAD_TEST = (
    "from app.core import greet\n\n\n"
    "def test_greet_mentions_name() -> None:\n"
    '    l = greet("Ada")\n'
    '    assert "Ada" in l\n'
)
GOOD_TEST = BAD_TEST.replace("    l = ", "    text = ").replace(" in l\n", " in text\n")
TESTS = "tests/test_core.py"
CLEAN_CORE = app.render_core(lint=True, types=True, bandit=True, scenario=True)
REVISION_MARK = "report findings in your tests"


def _answer(info: AgentInfo, out: BaseModel, name: str) -> ModelResponse:
    args = out.model_dump(mode="json")
    args.pop("kind", None)
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)], model_name=name)


def _tool_result(messages: list[ModelMessage], tool: str) -> str | None:
    """What `tool` returned in the latest request, if that request answers a tool call."""
    last = messages[-1]
    if isinstance(last, ModelRequest):
        for part in last.parts:
            if isinstance(part, ToolReturnPart) and part.tool_name == tool:
                return str(part.content)
    return None


def _retries(messages: list[ModelMessage]) -> list[str]:
    """The output-validation retries sent back so far (a failed output tool comes back as a
    ``retried`` tool return)."""
    return [
        str(p.content)
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, RetryPromptPart)
        or (isinstance(p, ToolReturnPart) and getattr(p, "outcome", None) == "retried")
    ]


class ScriptedTester:
    """Writes `first`; asked to revise, lists the files it may see, then answers `revise`."""

    def __init__(self, first: str, revise: Callable[[str], TestSuite]) -> None:
        self.first, self.revise = first, revise
        self.prompts: list[str] = []
        self.seen: list[str] = []

    def model(self) -> FunctionModel:
        def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            prompt = last_prompt(messages)
            if REVISION_MARK not in prompt:
                suite = TestSuite(files=[TestFile(path=TESTS, content=self.first)], rationale="t")
                return _answer(info, suite, "tester")
            listing = _tool_result(messages, "list_files")
            if listing is None:
                self.prompts.append(prompt)
                call = ToolCallPart("list_files", {"prefix": ""})
                return ModelResponse(parts=[call], model_name="tester")
            self.seen.append(listing)
            return _answer(info, self.revise(prompt), "tester")

        return FunctionModel(fn, model_name="tester")


def clean_coder(calls: list[str] | None = None) -> FunctionModel:
    """Writes finished, clean code at once (only the tests can then be at fault)."""

    def respond(prompt: str) -> Changeset:
        if calls is not None:
            calls.append(prompt)
        return Changeset(
            files=[
                FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
                FileChange(path="src/app/core.py", content=CLEAN_CORE),
            ],
            rationale="write core",
        )

    return scripted(respond, name="coder")


async def run(
    tmp_path: Path,
    *,
    coder: Model,
    tester: Model | None = None,
    architect: Model | None = None,
    validator: Any = None,
    **cfg: Any,
) -> tuple[RunOutcome, Path]:
    m = app.models()
    models = RoleModels(
        architect=architect or m["architect"], tester=tester or m["tester"], coder=coder,
        reviewer=m["security-reviewer"], labels={},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(**cfg)), models=models,
        gates=[RuffGate()], validator=validator, signer=Signer.generate(),
    )  # fmt: skip
    return await factory.run(), run_dir


def events(run_dir: Path, kind: str) -> list[Any]:
    with Ledger.open(run_dir, create=False) as ledger:
        return list(ledger.events(kind=kind))


def steps(run_dir: Path) -> list[str]:
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.step for e in ledger.events() if e.step]


def calls(run_dir: Path, role: str) -> list[int]:
    """The iteration of each model call `role` made."""
    return [
        e.payload["iteration"]
        for e in events(run_dir, "model.request")
        if e.payload["role"] == role
    ]


def envelope(run_dir: Path, step: str) -> dict[str, Any]:
    return next(e.payload for e in events(run_dir, "message") if e.step == step)


# -- (a) findings in the tests go back to the tester ----------------------------------------------


async def test_a_finding_in_a_test_goes_to_the_tester_who_fixes_it(tmp_path: Path) -> None:
    def fix(prompt: str) -> TestSuite:
        return TestSuite(files=[TestFile(path=TESTS, content=GOOD_TEST)], rationale="rename l")

    tester = ScriptedTester(BAD_TEST, fix)
    outcome, run_dir = await run(
        tmp_path, coder=clean_coder(), tester=tester.model(), max_iterations=4
    )
    decisions = [e.payload["decision"] for e in events(run_dir, "loop.decision")]
    assert (outcome.outcome, decisions) == ("converged", ["continue", "converged"])
    # the tester was asked in iteration 2, the coder (who has nothing to fix) was not
    assert calls(run_dir, "coder") == [1]
    assert set(calls(run_dir, "tester")) == {0, 2}
    assert "iter-2/tester" in steps(run_dir) and "iter-2/tests" in steps(run_dir)
    assert "iter-2/coder" not in steps(run_dir)
    revised = envelope(run_dir, "iter-2/tester")
    first_design = envelope(run_dir, "architect")
    assert revised["sender"] == "tester"
    assert first_design["id"] in revised["parent_ids"]
    # it saw the finding and its tests, not the spec and design again (its tools may read them
    # in README.md and docs/design.md), and never the code, in its prompt or through its tools
    (prompt,) = tester.prompts
    assert "E741" in prompt and TESTS in prompt and "def count(" not in prompt
    assert "<spec>" not in prompt and "<design>" not in prompt and "docs/design.md" in prompt
    (listing,) = tester.seen
    assert TESTS in listing and "pyproject.toml" in listing and "src/" not in listing
    assert "README.md" in listing and "docs/design.md" in listing
    assert (run_dir / "workspace" / TESTS).read_text() == GOOD_TEST
    assert verify_run(run_dir).ok


def _diff(before: str, after: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=1))


async def test_the_tester_patches_its_test_with_a_diff_and_a_stale_one_comes_back(
    tmp_path: Path,
) -> None:
    """Asked to revise, the tester sends a diff, not the file again. A diff whose context is
    not in its file (written against a file it imagined) comes back to it as a retry with the
    reason, in the same call; the one that applies is written."""
    stale = _diff(BAD_TEST.replace("greet", "hello"), GOOD_TEST.replace("greet", "hello"))
    answers: list[str] = []
    prompts: list[str] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = last_prompt(messages)
        if REVISION_MARK not in prompt:
            return _answer(info, TestSuite(files=[TestFile(path=TESTS, content=BAD_TEST)]), "t")
        retries = _retries(messages)
        prompts.append(prompt)
        diff = _diff(BAD_TEST, GOOD_TEST) if retries else stale
        answers.append(f"retried: {retries[-1]}" if retries else "first")
        suite = TestSuite(files=[TestFile(path=TESTS, diff=diff)], rationale="rename l")
        return _answer(info, suite, "tester")

    outcome, run_dir = await run(
        tmp_path, coder=clean_coder(), tester=FunctionModel(fn), max_iterations=4
    )
    assert outcome.outcome == "converged"
    assert answers[0] == "first" and len(answers) == 2
    assert f"{TESTS}: diff hunk 1 does not match the current file" in answers[1]
    assert "`diff`" in prompts[0] and "@@ -OLD_START" in prompts[0]
    (revised,) = [m for m in events(run_dir, "message") if m.step == "iter-2/tester"]
    (file,) = revised.payload["message"]["files"]
    assert file["diff"] == _diff(BAD_TEST, GOOD_TEST) and file.get("content") is None
    assert (run_dir / "workspace" / TESTS).read_text() == GOOD_TEST
    assert verify_run(run_dir).ok


async def test_a_tester_that_changes_nothing_blocks_the_run(tmp_path: Path) -> None:
    def same(prompt: str) -> TestSuite:
        return TestSuite(
            files=[TestFile(path=TESTS, content=BAD_TEST)], rationale="l is a fine name here"
        )

    outcome, run_dir = await run(
        tmp_path,
        coder=clean_coder(),
        tester=ScriptedTester(BAD_TEST, same).model(),
        max_iterations=4,
    )
    assert outcome.outcome == "blocked" and outcome.iterations == 2
    decision = events(run_dir, "loop.decision")[-1]
    reason = decision.payload["reason"]
    assert decision.payload["decision"] == "blocked"
    assert "the tester returned no change" in reason
    assert f"ruff E741 {TESTS}:5" in reason and '"l is a fine name here"' in reason
    assert reason.endswith("; the finding: Ambiguous variable name: `l`")
    # in the run's output (the progress line), the ledger's end and the report's reason
    line = line_for(decision)
    assert line is not None and '"l is a fine name here"' in line
    finished = events(run_dir, "run.finished")[-1].payload
    assert finished["outcome"] == "blocked" and finished["reason"] == reason
    with Ledger.open(run_dir, create=False) as ledger:
        report = summarize(ledger.events(), run_id="run")
    assert report.outcome_reason == reason
    assert report.iterations[-1].decision == "blocked" and report.iterations[-1].reason == reason
    assert "&quot;l is a fine name here&quot;" in render_html(report)


# -- stop reasons ---------------------------------------------------------------------------------


def _stuck_coder(second: Changeset) -> FunctionModel:
    """First writes core.py with E741 (no autofix removes it), then answers `second`."""
    core = CLEAN_CORE + "\n\ndef first(items: list[str]) -> str:\n    l = items[0]\n    return l\n"

    def respond(prompt: str) -> Changeset:
        if "Iteration 1 " in prompt:
            return Changeset(files=[FileChange(path="src/app/core.py", content=core)])
        return second

    return scripted(respond, name="coder")


async def test_an_empty_changeset_is_blocked_not_oscillating(tmp_path: Path) -> None:
    empty = Changeset(rationale="the failing check is in a file I may not touch")
    outcome, run_dir = await run(tmp_path, coder=_stuck_coder(empty), max_iterations=5)
    assert outcome.outcome == "blocked" and outcome.iterations == 2
    reason = events(run_dir, "loop.decision")[-1].payload["reason"]
    assert reason.startswith("the coder returned no change for ruff E741 src/app/core.py:")
    assert '"the failing check is in a file I may not touch"' in reason
    assert "iter-2/commit" not in steps(run_dir)  # nothing was applied or committed


async def test_changes_that_change_nothing_are_blocked(tmp_path: Path) -> None:
    core = CLEAN_CORE + "\n\ndef first(items: list[str]) -> str:\n    l = items[0]\n    return l\n"
    again = Changeset(files=[FileChange(path="src/app/core.py", content=core)], rationale="same")
    outcome, run_dir = await run(tmp_path, coder=_stuck_coder(again), max_iterations=5)
    assert outcome.outcome == "blocked"
    reason = events(run_dir, "loop.decision")[-1].payload["reason"]
    assert "left the workspace as it was" in reason and '"same"' in reason


# -- (b) the design is checked, and the coder can ask for a change ---------------------------------


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("", None),
        ("python -m app", None),
        ("python3 -m app.server", None),
        ("python src/app/serve.py --quiet", None),
        ("PORT=${PORT:-8080} PYTHONPATH=src python -m app", "shell syntax ('$')"),
        ("PORT=8080 python -m app", "environment assignment"),
        ("python -m app | tee log", "shell syntax ('|')"),
        ("python -m app && echo up", "shell syntax ('&')"),
        ("python -m app > log", "shell syntax ('>')"),
        ("python -m app; true", "shell syntax (';')"),
        ("echo `id`", "shell syntax ('`')"),
        ("python -m 'app", "not an argv"),
        ("uvicorn app.core:app", "does not start with python"),
        ("python -m other", "neither the package 'app' nor in the file_plan"),
        ("python src/app/missing.py", "not in the file_plan"),
        ("python", "names no module or script"),
    ],
)
def test_start_command_check(command: str, problem: str | None) -> None:
    design = Design(
        summary="s", package="app", start_command=command,
        file_plan=["src/app/__init__.py", "src/app/__main__.py", "src/app/server.py",
                   "src/app/serve.py"],
    )  # fmt: skip
    found = start_command_problem(design)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_running_the_package_needs_its_main_module() -> None:
    design = Design(summary="s", package="app", start_command="python -m app",
                    file_plan=["src/app/__init__.py"])  # fmt: skip
    assert "src/app/__main__.py" in (design_problem(design) or "")


SERVED = Design(
    summary="A greeting service.",
    package="app",
    file_plan=["src/app/__init__.py", "src/app/__main__.py", "src/app/core.py"],
    start_command="python -m app",
)


class Architect:
    """Answers each prompt with the next design of its script; records the retries it was sent."""

    def __init__(self, first: list[Design], amended: list[Design]) -> None:
        self.first, self.amended = first, amended
        self.retries: list[str] = []
        self.requests: list[str] = []

    def model(self) -> FunctionModel:
        def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            prompt = last_prompt(messages)
            script = self.amended if "<request>" in prompt else self.first
            retries = _retries(messages)
            self.retries += retries[-1:]
            if "<request>" in prompt and not retries:
                self.requests.append(prompt)
            return _answer(info, script[min(len(retries), len(script) - 1)], "architect")

        return FunctionModel(fn, model_name="architect")


async def test_a_start_command_with_shell_syntax_goes_back_to_the_architect(
    tmp_path: Path,
) -> None:
    bad = SERVED.model_copy(update={"start_command": "PORT=${PORT:-8080} python -m app"})
    architect = Architect([bad, SERVED], [])
    outcome, run_dir = await run(
        tmp_path, coder=clean_coder(), architect=architect.model(), max_iterations=1
    )
    assert calls(run_dir, "architect") == [0, 0]  # the first design was sent back once
    (retry,) = architect.retries
    assert "shell syntax" in retry and "PORT" in retry
    design = envelope(run_dir, "architect")["message"]
    assert design["start_command"] == "python -m app"
    assert outcome.outcome == "converged"


async def test_a_design_that_cannot_meet_the_spec_stops_the_run_before_anything_is_built(
    tmp_path: Path,
) -> None:
    unmet = "the spec requires FastAPI and uvicorn, which this environment does not install"
    design = SERVED.model_copy(update={"unmet_requirements": [unmet]})
    outcome, run_dir = await run(
        tmp_path, coder=clean_coder(), architect=Architect([design], []).model(), max_iterations=2
    )
    assert (outcome.outcome, outcome.iterations) == ("blocked", 0)
    with Ledger.open(run_dir, create=False) as ledger:
        (decision,) = [e.payload for e in ledger.events(kind="loop.decision")]
    assert decision["decision"] == "blocked" and unmet in decision["reason"]
    assert "a person must change the environment or the spec" in decision["reason"]
    assert calls(run_dir, "architect") == [0]  # and nobody else: nothing was built
    assert calls(run_dir, "tester") == calls(run_dir, "coder") == []


async def test_an_architect_that_never_passes_the_check_is_not_called_an_outage(
    tmp_path: Path,
) -> None:
    bad = SERVED.model_copy(update={"start_command": "PORT=8080 python -m app"})
    architect = Architect([bad, bad, bad, bad], [])
    with pytest.raises(RunError) as caught:
        await run(tmp_path, coder=clean_coder(), architect=architect.model(), max_iterations=1)
    said = str(caught.value)
    assert "never passed their checks" in said and "assay resume" in said
    assert "model provider failed" not in said


async def test_the_coder_asks_for_a_design_change(tmp_path: Path) -> None:
    amended = SERVED.model_copy(
        update={
            "file_plan": [*SERVED.file_plan, "src/app/server.py"],
            "start_command": "python -m app.server",
            "amendment": "start the service from app.server",
        }
    )
    shell = amended.model_copy(update={"start_command": "cd src && python -m app.server"})
    architect = Architect([SERVED], [shell, amended])
    prompts: list[str] = []
    started: list[tuple[int, str]] = []

    def respond(prompt: str) -> Changeset:
        prompts.append(prompt)
        files = [
            FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
            FileChange(path="src/app/core.py", content=CLEAN_CORE),
        ]
        if "Iteration 1 " in prompt:
            return Changeset(
                files=files, rationale="core",
                design_change="serve from app.server; add src/app/server.py to the file plan",
            )  # fmt: skip
        server = FileChange(path="src/app/server.py", content='"""Serves greetings."""\n')
        return Changeset(files=[*files, server], rationale="add the server module")

    async def validator(workspace: Path, design: Design, iteration: int) -> ValidationResult:
        started.append((iteration, design.start_command))
        ok = (workspace / "src/app/server.py").is_file()
        outcome = ScenarioOutcome(id="s", title="serves", passed=ok, score=100.0 * ok)
        return ValidationResult(satisfaction=outcome.score, scenarios=[outcome])

    outcome, run_dir = await run(
        tmp_path, coder=scripted(respond, name="coder"), architect=architect.model(),
        validator=validator, max_iterations=4,
    )  # fmt: skip
    assert outcome.outcome == "converged" and outcome.iterations == 2
    # the amended design was checked like the first: the shell one went back with the reason
    assert calls(run_dir, "architect") == [0, 1, 1]
    assert any("shell syntax" in r for r in architect.retries)
    (request,) = architect.requests
    assert "serve from app.server" in request and '"start_command": "python -m app"' in request
    # recorded as an amendment: its own step, from the first design and the coder's changeset
    env = envelope(run_dir, "iter-1/architect")
    coder_env = envelope(run_dir, "iter-1/coder")
    assert env["sender"] == "architect" and env["iteration"] == 1
    assert env["parent_ids"] == [envelope(run_dir, "architect")["id"], coder_env["id"]]
    assert env["message"]["amendment"] == "start the service from app.server"
    assert steps(run_dir).index("iter-1/design") < steps(run_dir).index("iter-1/commit")
    # and used from then on: by the validator, in the coder's next prompt, in the scaffold
    assert started == [(1, "python -m app.server"), (2, "python -m app.server")]
    assert "start: python -m app.server" in prompts[1]
    assert envelope(run_dir, "iter-2/coder")["parent_ids"][0] == env["id"]
    readme = (run_dir / "workspace" / "README.md").read_text()
    assert "python -m app.server" in readme
    assert verify_run(run_dir).ok


async def test_a_crash_in_the_tester_revision_resumes(tmp_path: Path) -> None:
    """The tester's revision is its own step: after a crash in it, the resumed run redoes none
    of the steps before it and asks the tester again."""
    state = {"down": True}

    def fix(prompt: str) -> TestSuite:
        if state["down"]:
            raise KeyboardInterrupt  # the process dies mid-step
        return TestSuite(files=[TestFile(path=TESTS, content=GOOD_TEST)], rationale="rename l")

    tester = ScriptedTester(BAD_TEST, fix).model()
    with pytest.raises(KeyboardInterrupt):
        await run(tmp_path, coder=clean_coder(), tester=tester, max_iterations=4)
    before = steps(run_dir := tmp_path / "run")
    assert before[-1] == "iter-1/decision"
    state["down"] = False
    outcome, _ = await run(tmp_path, coder=clean_coder(), tester=tester, max_iterations=4)
    assert outcome.outcome == "converged"
    after = steps(run_dir)
    assert after[: len(before)] == before and "iter-2/tester" in after
    assert calls(run_dir, "coder") == [1] and calls(run_dir, "architect") == [0]
    assert verify_run(run_dir).ok


async def test_an_architect_that_keeps_the_design_blocks_the_run(tmp_path: Path) -> None:
    kept = SERVED.model_copy(update={"amendment": "the module layout is right as it is"})
    architect = Architect([SERVED], [kept])

    def respond(prompt: str) -> Changeset:
        return Changeset(
            files=[FileChange(path="src/app/core.py", content=CLEAN_CORE)],
            rationale="core", design_change="split core into two modules",
        )  # fmt: skip

    outcome, run_dir = await run(
        tmp_path, coder=scripted(respond, name="coder"), architect=architect.model(),
        max_iterations=3,
    )  # fmt: skip
    assert outcome.outcome == "blocked" and outcome.iterations == 1
    reason = events(run_dir, "loop.decision")[-1].payload["reason"]
    assert reason.startswith("the architect returned the design unchanged for the coder's request")
    assert '"split core into two modules"' in reason
    assert '"the module layout is right as it is"' in reason
    assert "iter-1/design" not in steps(run_dir) and "iter-1/commit" not in steps(run_dir)


# -- who owns what ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "file", "owner"),
    [
        ("complexity", "tests/test_server.py", "tester"),
        ("ruff", "tests/conftest.py", "tester"),
        ("pytest", "tests/test_server.py", "coder"),  # a failing test asks the code to change
        ("scenarios", "", "coder"),
        ("guard", "tests/test_server.py", "coder"),  # the coder's own rejected edit
        ("ruff", "src/app/core.py", "coder"),
        ("depaudit", "pyproject.toml", "architect"),
        ("semgrep", ".github/workflows/ci.yml", "assay"),
    ],
)
def test_owner_of(source: str, file: str, owner: str) -> None:
    assert owner_of(FeedbackItem(source=source, severity="high", file=file, message="m")) == owner


def test_each_role_gets_its_part_and_a_finding_nobody_is_asked_about_is_stranded() -> None:
    test = FeedbackItem(source="ruff", severity="low", file="tests/t.py", line=3, message="E741")
    code = FeedbackItem(source="mypy", severity="medium", file="src/app/a.py", message="type")
    deps = FeedbackItem(source="depaudit", severity="high", file="pyproject.toml", message="CVE")
    fb = Feedback(iteration=1, items=[deps, code, test], files=["src/app/a.py"], satisfaction=50)
    tester, coder = for_role(fb, "tester"), for_role(fb, "coder")
    assert tester.items == [test] and tester.files == ["tests/t.py"]
    assert tester.satisfaction is None
    assert [i.source for i in coder.items] == ["depaudit", "mypy"]
    assert "design_change" in coder.items[0].message and coder.satisfaction == 50
    again = fb.model_copy(update={"iteration": 2})
    assert stranded(fb, again, {"coder", "tester"}) == deps  # the architect was not asked
    assert stranded(fb, again, {"coder", "tester", "architect"}) is None
    assert stranded(None, again, set()) is None


HEALTH = """\
id: health
description: The service says it is healthy
type: api
weight: 1
steps:
  - description: Ask for health
    request: {method: GET, path: /health}
    assert:
      status: 200
      json: [{path: $.status, equals: "ok"}]
"""

HEALTH_SERVER = '''"""A health endpoint, started with python -m svc.server."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    """Answers GET /health."""

    def do_GET(self) -> None:  # noqa: N802
        """Reply with the status."""
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
'''


async def test_the_holdout_service_starts_from_the_amended_design(tmp_path: Path) -> None:
    """The real scenario validator serves the service from the amended ``start_command`` (the
    first one, ``python -m svc``, has no ``__main__`` to run)."""
    first = Design(summary="Health service.", package="svc", start_command="python -m svc",
                   file_plan=["src/svc/__init__.py", "src/svc/__main__.py"])  # fmt: skip
    amended = first.model_copy(
        update={"start_command": "python -m svc.server", "amendment": "serve from svc.server",
                "file_plan": ["src/svc/__init__.py", "src/svc/server.py"]}
    )  # fmt: skip
    architect = Architect([first], [amended])
    suite = TestSuite(files=[TestFile(path="tests/test_svc.py", content=(
        "import svc\n\n\ndef test_import() -> None:\n    assert svc.__doc__\n"))])  # fmt: skip

    def coder(prompt: str) -> Changeset:
        return Changeset(
            files=[FileChange(path="src/svc/__init__.py", content='"""Health service."""\n'),
                   FileChange(path="src/svc/server.py", content=HEALTH_SERVER)],
            rationale="the server lives in svc.server",
            design_change="start the service with python -m svc.server, not python -m svc",
        )  # fmt: skip

    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "health.yaml").write_text(HEALTH)
    loaded = load_dir(scenarios)
    loaded.raise_for_errors()
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=20, backend="local"
    )
    models = RoleModels(
        architect=architect.model(), tester=scripted(lambda _: suite), coder=scripted(coder),
        reviewer=app.reviewer(), labels={},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=app.SPEC.model_copy(update={"name": "svc"}),
        settings=Settings(factory=FactoryConfig(max_iterations=2)), models=models,
        gates=[RuffGate()], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    assert outcome.outcome == "converged" and outcome.iterations == 1, outcome
    (result,) = [e.payload for e in events(run_dir, "scenario.result")]
    assert result["score"] == 100.0
    assert envelope(run_dir, "iter-1/architect")["message"]["start_command"] == (
        "python -m svc.server"
    )


# -- a test the coder disputes goes to the tester in the same iteration ---------------------------

SETTLED_TEST = GOOD_TEST.replace("test_greet_mentions_name", "test_greet_names_the_person")


async def test_a_test_the_coder_disputes_is_revised_by_the_tester_at_once(
    tmp_path: Path,
) -> None:
    dispute = TestConflict(
        file=TESTS, reason="test_greet_mentions_name pins a greeting format the spec leaves open"
    )

    def coder(prompt: str) -> Changeset:
        return Changeset(
            files=[
                FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
                FileChange(path="src/app/core.py", content=CLEAN_CORE),
            ],
            rationale="write core",
            test_conflict=dispute,
        )

    def settle(prompt: str) -> TestSuite:
        return TestSuite(files=[TestFile(path=TESTS, content=SETTLED_TEST)], rationale="as spec")

    tester = ScriptedTester(GOOD_TEST, settle)
    outcome, run_dir = await run(
        tmp_path, coder=scripted(coder, name="coder"), tester=tester.model(), max_iterations=2
    )
    assert outcome.outcome == "converged" and outcome.iterations == 1
    assert calls(run_dir, "tester") == [0, 1, 1]  # the suite, then the dispute (a tool call first)
    done = steps(run_dir)
    assert "iter-1/tester-conflict" in done and "iter-1/tester-conflict-tests" in done
    assert (
        done.index("iter-1/commit")
        < done.index("iter-1/tester-conflict")
        < done.index("iter-1/gates")
    )
    (prompt,) = tester.prompts
    assert "the coder disputes this test" in prompt and "greeting format" in prompt
    assert "<spec>" in prompt and "<design>" not in prompt  # the spec settles a dispute
    assert (run_dir / "workspace" / TESTS).read_text() == SETTLED_TEST


async def test_a_disputed_test_the_tester_keeps_blocks_the_run(tmp_path: Path) -> None:
    def coder(prompt: str) -> Changeset:
        return Changeset(
            rationale="the code is right; the test is not",
            test_conflict=TestConflict(file=TESTS, reason="it asserts a format the spec omits"),
        )

    def keep(prompt: str) -> TestSuite:
        return TestSuite(files=[TestFile(path=TESTS, content=GOOD_TEST)], rationale="it is right")

    outcome, run_dir = await run(
        tmp_path, coder=scripted(coder, name="coder"),
        tester=ScriptedTester(GOOD_TEST, keep).model(), max_iterations=2,
    )  # fmt: skip
    assert outcome.outcome == "blocked"
    reason = events(run_dir, "loop.decision")[-1].payload["reason"]
    assert "the tester returned no change" in reason and "it is right" in reason

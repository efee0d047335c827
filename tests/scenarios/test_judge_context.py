"""What the judge is shown (the request sent, the captured values, no volatile headers), and its
verdicts reused across iterations and across a resume, counted by a scripted judge's calls."""

from __future__ import annotations

import re
import secrets
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from ruamel.yaml import YAML

from assay.agents.judge import Judge
from assay.commands._holdout import ScenarioValidator
from assay.factory.feedback import compose_feedback
from assay.factory.validator import LeakLevel, sanitize
from assay.messages import Design
from assay.scenarios.loader import load_dir
from assay.scenarios.model import Scenario
from assay.scenarios.observation import Observation
from assay.scenarios.results import ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner
from assay.scenarios.verdicts import CACHE_FILE, VerdictCache

REFERENCE = Path(__file__).resolve().parents[1] / "reference"

NAMES = """\
id: names
description: An empty name and a missing name are different mistakes
steps:
  - description: Create with an empty name
    request: {method: POST, path: /items, body: {name: ""}}
    expect: "Status 400. The error says that the name is empty, not that it is missing."
  - description: Create without a name
    request: {method: POST, path: /items, body: {description: "no name"}}
    expect: "Status 400. The error says that the name is required."
"""

CAPTURED = """\
id: captured
description: Reading back what was created
setup:
  - description: Create an item
    request: {method: POST, path: /items, body: {name: "Widget"}}
    capture: [{name: item_id, jsonpath: $.id}]
steps:
  - description: Read it back
    request:
      method: GET
      path: /items/{item_id}
      headers: {Authorization: "Bearer {item_id}"}
    expect: "Status 200. The id matches the item_id of the item created earlier."
"""

DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4}")


def _prompt(messages: list[ModelMessage]) -> str:
    return "\n".join(
        str(p.content)
        for m in messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart)
    )


def _recording_judge(judge_model: Callable[..., FunctionModel]) -> tuple[Judge, list[str]]:
    """A scripted judge (score 100) that keeps every prompt it is sent."""
    prompts: list[str] = []
    inner = judge_model()

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.append(_prompt(messages))
        assert inner.function is not None
        return inner.function(messages, info)  # type: ignore[return-value]

    return Judge(FunctionModel(answer, model_name="recording-judge"), samples=1), prompts


def _scenarios(tmp_path: Path, *texts: str) -> list[Scenario]:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(texts):
        (folder / f"s{i}.yaml").write_text(text)
    loaded = load_dir(folder)
    loaded.raise_for_errors()
    return loaded.scenarios


async def _validate(
    reference: Callable[..., Any], scenarios: list[Scenario], judge: Judge, cache: VerdictCache
) -> ValidationReport:
    """One iteration: a freshly started service, as the factory starts one per iteration."""
    async with reference("hello_api") as svc:
        options = RunOptions(
            target=svc.url, transport=svc.transport, judge=judge, verdicts=cache, threshold=95
        )
        return await ScenarioRunner(options).run(scenarios)


async def test_the_judge_sees_the_request_body_and_the_captured_values_but_no_date(
    tmp_path: Path, reference: Callable[..., Any], judge_model: Callable[..., FunctionModel]
) -> None:
    judge, prompts = _recording_judge(judge_model)
    scenarios = _scenarios(tmp_path, NAMES, CAPTURED)
    report = await _validate(reference, scenarios, judge, VerdictCache())
    assert report.passed and report.judge_calls == 3 and report.judge_reused == 0
    empty = next(p for p in prompts if "Create with an empty name" in p)
    missing = next(p for p in prompts if "Create without a name" in p)
    assert '## Request sent\nPOST /items\ncontent-type: application/json\n\n{"name": ""}' in empty
    assert '{"description": "no name"}' in missing and '"name"' not in missing.split("##")[1]
    _shows_the_captured_id(next(p for p in prompts if "Read it back" in p))
    for prompt in prompts:
        _shows_no_volatile_value(prompt)


def _shows_the_captured_id(prompt: str) -> None:
    captured = re.search(r"^- item_id = ([0-9a-f-]{36})$", prompt, re.MULTILINE)
    assert captured is not None, prompt
    assert f"GET /items/{captured.group(1)}" in prompt  # the path after substitution
    assert "authorization: Bearer {item_id}" in prompt  # a credential as the scenario wrote it


def _shows_no_volatile_value(prompt: str) -> None:
    assert "date: (present; its value varies and is not shown)" in prompt
    assert "server: (present" in prompt
    assert not DATE.search(prompt), prompt  # no Date value anywhere
    assert "BaseHTTP" not in prompt  # nor the Server header's value


async def test_an_identical_iteration_asks_the_judge_nothing_and_a_resume_keeps_the_verdicts(
    tmp_path: Path, reference: Callable[..., Any], judge_model: Callable[..., FunctionModel]
) -> None:
    judge, prompts = _recording_judge(judge_model)
    scenarios = _scenarios(tmp_path, NAMES)
    path = tmp_path / "run" / "cache" / CACHE_FILE
    cache = VerdictCache(path)
    cache.origin = "iteration 1"
    first = await _validate(reference, scenarios, judge, cache)
    assert (first.judge_calls, first.judge_reused, len(prompts)) == (2, 0, 2)
    assert path.is_file() and len(VerdictCache(path)) == 2

    cache.origin = "iteration 2"
    second = await _validate(reference, scenarios, judge, cache)
    assert len(prompts) == 2  # no call at all: the Date header changed, the question did not
    assert (second.judge_calls, second.judge_reused) == (0, 2)
    steps = second.scenarios[0].steps
    assert [s.judge.reused_from for s in steps if s.judge] == ["iteration 1", "iteration 1"]
    assert [s.judge.key for s in steps if s.judge] == [
        s.judge.key for s in first.scenarios[0].steps if s.judge
    ]
    assert second.satisfaction == first.satisfaction == 100
    assert "2 judge verdict(s) reused" in second.summary

    resumed = VerdictCache(path)  # `assay resume`: a new process, the same run folder
    third = await _validate(reference, scenarios, judge, resumed)
    assert len(prompts) == 2 and third.judge_reused == 2

    path.write_text("{not json")  # a damaged cache costs calls, never a wrong verdict
    fourth = await _validate(reference, scenarios, judge, VerdictCache(path))
    assert len(prompts) == 4 and fourth.judge_reused == 0


async def test_a_different_judge_or_a_different_answer_is_asked_again(
    tmp_path: Path, reference: Callable[..., Any], judge_model: Callable[..., FunctionModel]
) -> None:
    judge, prompts = _recording_judge(judge_model)
    cache = VerdictCache()
    scenarios = _scenarios(tmp_path, NAMES)
    await _validate(reference, scenarios, judge, cache)
    other, other_prompts = _recording_judge(judge_model)
    other.samples = 2  # another question: two samples, not one
    await _validate(reference, scenarios, other, cache)
    assert (len(prompts), len(other_prompts)) == (2, 4)
    changed = _scenarios(tmp_path, NAMES.replace('{name: ""}', '{name: " "}'))
    report = await _validate(reference, changed, judge, cache)
    assert len(prompts) == 3 and report.judge_reused == 1  # only the changed request is asked


def test_volatile_headers_and_cookie_values_are_not_shown() -> None:
    obs = Observation(
        kind="request", action="GET /", status=200, body="{}",
        headers={"date": "Tue, 01 Dec 2026 15:00:00 GMT", "etag": 'W/"1"',
                 "set-cookie": "session=abc123; Path=/; HttpOnly; Expires=Wed, 02 Dec 2026",
                 "content-type": "application/json"},
    )  # fmt: skip
    seen = obs.describe()
    assert "content-type: application/json" in seen
    assert "set-cookie: session=(value not shown); Path=/; HttpOnly" in seen
    assert "abc123" not in seen and "2026" not in seen and 'W/"1"' not in seen


async def test_the_validator_keeps_verdicts_in_the_run_folder_and_names_the_weakest_step(
    tmp_path: Path, judge_model: Callable[..., FunctionModel]
) -> None:
    scores = iter([100.0, 90.0, 100.0, 90.0])
    judge = Judge(judge_model(scores), samples=1)
    workspace = tmp_path / "run" / "workspace"
    workspace.mkdir(parents=True)
    for name in ("hello_api.py", "_http.py"):
        shutil.copy(REFERENCE / name, workspace / name)
    design = Design(summary="Items.", package="hello_api", start_command="python hello_api.py",
                    file_plan=["hello_api.py", "_http.py"])  # fmt: skip
    validator = ScenarioValidator(
        _scenarios(tmp_path, NAMES), judge=judge, threshold=95, start_timeout=20, backend="local"
    )
    first = await validator(workspace, design, 1)
    assert (first.judge_calls, first.judge_reused) == (2, 0)
    assert first.satisfaction == 95
    assert first.weakest.startswith("names step 2 (")
    assert "'Create without a name': judged 90: scripted shortfall at 90.0" in first.weakest
    assert (tmp_path / "run" / "cache" / CACHE_FILE).is_file()
    second = await validator(workspace, design, 2)
    assert (second.judge_calls, second.judge_reused) == (0, 2)
    assert second.satisfaction == 95 and second.weakest == first.weakest
    assert next(scores) == 100.0  # the judge was not asked in iteration 2

    leaks: tuple[LeakLevel, ...] = ("none", "titles", "reasons")
    for leak in leaks:
        kept = sanitize(second, leak)
        assert (kept.weakest, kept.judge_reused) == (second.weakest, 2)
        if leak != "reasons":  # the operator's line never reaches the coder
            feedback = compose_feedback(2, report=None, validation=kept).model_dump_json()
            assert "Create without a name" not in feedback and "shortfall" not in feedback


async def test_an_exec_step_shows_its_command_environment_and_stdin(
    tmp_path: Path, judge_model: Callable[..., FunctionModel]
) -> None:
    python = Path(sys.executable).as_posix()
    scenario = f"""\
id: cli
description: The tool greets
setup:
  - description: Pick a name
    exec: {{command: "{python} -c 'print(42)'"}}
    capture: [{{name: who, source: stdout}}]
steps:
  - description: Greet from stdin
    exec:
      command: "{python} -c 'import sys; print(sys.stdin.read().upper())'"
      env: {{GREETING: "hello {{who}}"}}
      stdin: "hi {{who}}"
    expect: "Exit code 0. The greeting is shouted for who."
"""
    judge, prompts = _recording_judge(judge_model)
    report = await ScenarioRunner(RunOptions(judge=judge)).run(_scenarios(tmp_path, scenario))
    assert report.passed and len(prompts) == 1
    (prompt,) = prompts
    sent = prompt.split("## Request sent\n")[1].split("\n\n## ")[0]
    assert sent == (
        f"$ {python} -c 'import sys; print(sys.stdin.read().upper())'\n"
        "env GREETING=hello 42\n--- stdin ---\nhi 42"
    )
    assert "- who = 42" in prompt  # named by the expectation and used by the step
    assert "## Observation\nexit code 0\n--- stdout ---\nHI 42" in prompt


def test_a_secret_looking_variable_is_shown_as_written() -> None:
    from assay.scenarios.steps import _sent_command

    # The environment as the scenario file writes it, and as it ran with a (random) secret
    # substituted: the secret's value must never reach the judge.
    written = YAML(typ="safe").load("API_TOKEN: '{token}'\nMODE: fast\n")
    ran = {**written, "API_TOKEN": secrets.token_hex(8)}
    sent = _sent_command("tool", ran, written, None)
    assert sent == "$ tool\nenv API_TOKEN={token}\nenv MODE=fast"
    assert ran["API_TOKEN"] not in sent

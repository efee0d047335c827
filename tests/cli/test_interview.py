"""`assay interview` through the CLI, with a scripted interviewer and answers on standard input.

The interviewer is a pydantic-ai `FunctionModel` playing a fixed script of turns (`Questions` or
a `Draft`), installed through the ``ASSAY_TESTING_MODELS`` hook as ``assay run`` tests do; it
records every prompt it was sent, so a test sees what reached the model (the answers, the seed,
the lint problems sent back). Nothing reaches a provider.
"""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.interviewer import (
    AssertDraft,
    CaptureDraft,
    Draft,
    JsonCheckDraft,
    Question,
    Questions,
    RequestDraft,
    ScenarioDraft,
    StepDraft,
)
from assay.cli import main
from assay.scenarios.loader import load_dir
from assay.spec import load_spec
from assay.testing import last_prompt

SPEC = """# Notes API

A small API for short text notes.

## Data Model

- `id` — UUID, generated server-side
- `text` — string, required, 1 to 500 characters

## Endpoints

### POST /notes

- Response: `201 Created` with the note JSON
- Validation: `400 Bad Request` with `{"error": "..."}` when `text` is missing or empty

### GET /notes/{id}

- Response: `200 OK` with the note JSON; `404 Not Found` with `{"error": "..."}` otherwise

## Requirements

- Listens on `127.0.0.1` at the port in `$PORT`; in-memory storage.
"""


def _create(path: str = "/notes", capture_path: str = "$.id") -> StepDraft:
    return StepDraft(
        description="Create a note",
        request=RequestDraft(method="POST", path=path, body={"text": "milk"}),
        capture=[CaptureDraft(name="note_id", jsonpath=capture_path)],
        expect="Status 201. The body has an 'id' and 'text' equal to 'milk'.",
        assertions=AssertDraft(
            status=201, json_checks=[JsonCheckDraft(path="$.text", equals="milk")]
        ),
    )


def _scenarios(path: str = "/notes", capture_path: str = "$.id") -> list[ScenarioDraft]:
    read = StepDraft(
        description="Read it back",
        request=RequestDraft(method="GET", path="/notes/{note_id}"),
        expect="Status 200 with the same text.",
        assertions=AssertDraft(status=200),
    )
    empty = StepDraft(
        description="Create an empty note",
        request=RequestDraft(method="POST", path="/notes", body={}),
        expect="Status 400 with an error body.",
        assertions=AssertDraft(
            status=400, json_checks=[JsonCheckDraft(path="$.error", type="string")]
        ),
    )
    return [
        ScenarioDraft(
            id="create-note", description="A note is created and read back", tier=1,
            satisfaction_criteria="The note reads back as created",
            setup=[_create(path, capture_path)], steps=[read],
        ),
        ScenarioDraft(id="note-validation", description="Empty notes are refused", steps=[empty]),
    ]  # fmt: skip


def _draft(**changes: Any) -> Draft:
    base = Draft(name="notes-api", spec=SPEC, scenarios=_scenarios(), open_points=["No auth."])
    return base.model_copy(update=changes)


def _asks(*questions: str) -> Questions:
    return Questions(questions=[Question(question=q, why=f"because of {q}") for q in questions])


class Script:
    """A scripted interviewer: its turns in order, and the prompt each model request carried."""

    def __init__(self, *turns: BaseModel) -> None:
        self.turns = list(turns)
        self.prompts: list[str] = []

    def respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.prompts.append(last_prompt(messages))
        turn = self.turns.pop(0) if len(self.turns) > 1 else self.turns[0]  # the last repeats
        kind = type(turn).__name__
        tool = next(t.name for t in info.output_tools if t.name.endswith(kind))
        return ModelResponse(parts=[ToolCallPart(tool, turn.model_dump(mode="json"))])


@pytest.fixture
def interview(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``assay interview ARGS`` in `tmp_path` with `script` and `stdin`: code, out, err."""
    monkeypatch.chdir(tmp_path)
    for var in ("ASSAY_MODEL", "ASSAY_INTERVIEW_MODEL", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(var, raising=False)

    def run(script: Script, stdin: str, *args: str) -> tuple[int, str, str]:
        team = types.ModuleType("interview_team")
        team.models = lambda: {"interviewer": FunctionModel(script.respond)}  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "interview_team", team)
        monkeypatch.setenv("ASSAY_TESTING_MODELS", "interview_team:models")
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(["interview", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_two_rounds_write_a_spec_that_parses_and_scenarios_that_lint_clean(
    interview: Any, tmp_path: Path
) -> None:
    script = Script(
        _asks("What is a note?", "Is there auth?"), _asks("Max length of a note?"), _draft()
    )
    stdin = "An API for short notes\nA short text\nNo auth\n500 characters\n"
    code, out, _ = interview(script, stdin, "--scenarios", "held-out")
    assert code == 0, out
    # what reached the model: the user's description, then each round's answers with questions
    assert "An API for short notes" in script.prompts[0]
    assert "Q: Is there auth?\n   A: No auth" in script.prompts[1]
    assert "A: 500 characters" in script.prompts[2]
    assert "3 more round(s)" in script.prompts[0] and "1 more round(s)" in script.prompts[2]
    # the questions and why they matter were shown
    assert "2. Is there auth?" in out and "why: because of Is there auth?" in out
    assert "review: No auth." in out
    spec = load_spec(tmp_path / "spec.md")
    assert (spec.name, spec.title) == ("notes-api", "Notes API")
    assert spec.body.startswith("# Notes API") and "### POST /notes" in spec.body
    files = sorted(p.name for p in (tmp_path / "held-out").iterdir())
    assert files == ["create-note.yaml", "note-validation.yaml"]
    loaded = load_dir(tmp_path / "held-out")
    assert loaded.problems == []
    created = next(s for s in loaded.scenarios if s.id == "create-note")
    assert created.tier == 1 and created.setup[0].capture[0].name == "note_id"
    assert created.steps[0].request is not None
    assert created.steps[0].request.path == "/notes/{note_id}"
    refused = next(s for s in loaded.scenarios if s.id == "note-validation")
    step = refused.steps[0]
    assert step.request is not None and step.request.has_body and step.request.body == {}
    assert step.assertions is not None and step.assertions.status == 400
    assert step.assertions.json_[0].type == "string"
    # and the linter's own command agrees
    assert main(["scenarios", "lint", str(tmp_path / "held-out"), "--strict"]) == 0


def test_seed_is_sent_and_its_front_matter_kept(interview: Any, tmp_path: Path) -> None:
    seed = tmp_path / "old.md"
    seed.write_text("---\nname: jotter\nlanguage: python\n---\n# Jotter\n\nNotes, somehow.\n")
    script = Script(_draft(name="something-else"))
    # no stdin: with a seed, assay does not ask what to build
    code, out, err = interview(script, "", "--seed", str(seed), "--out", "new.md")
    assert code == 0, out + err
    assert "<seed>" in script.prompts[0] and "Notes, somehow." in script.prompts[0]
    assert "Not wanted" in script.prompts[0]  # no --scenarios: none asked for
    spec = load_spec(tmp_path / "new.md")
    assert spec.name == "jotter" and spec.meta == {"language": "python"}
    assert "### GET /notes/{id}" in spec.body
    assert seed.read_text().endswith("Notes, somehow.\n")  # the seed itself is untouched
    assert not (tmp_path / "create-note.yaml").exists()  # scenarios not asked: none written


def test_a_draft_whose_scenarios_fail_lint_is_sent_back_and_fixed(
    interview: Any, tmp_path: Path
) -> None:
    bad = _draft(scenarios=_scenarios(path="http://example.com/notes", capture_path="$.items[0]"))
    script = Script(bad, _draft())
    code, out, err = interview(script, "notes\n", "--scenarios", "sc", "--max-rounds", "1")
    assert code == 0, out + err
    sent_back = script.prompts[1]
    assert "<problems>" in sent_back and "fix 1 of 2" in sent_back
    assert "AS031" in sent_back and "SC029" in sent_back
    assert str(Path("sc") / "create-note.yaml") in sent_back  # named where it will be written
    assert load_dir(tmp_path / "sc").errors == []


def test_a_draft_never_fixed_fails_listing_its_problems_and_writes_nothing(
    interview: Any, tmp_path: Path
) -> None:
    bad = _draft(name="Not A Name!", scenarios=_scenarios(path="notes"))
    script = Script(bad)
    code, _, err = interview(script, "notes\n", "--scenarios", "sc")
    assert code == 3
    assert "still has 2 problem(s) after 2 fix(es); nothing was written" in err
    assert "AS031" in err and "spec name 'not-a-name!'" in err
    assert len(script.prompts) == 3  # the draft, then two fixes asked for
    assert not (tmp_path / "spec.md").exists() and not (tmp_path / "sc").exists()


def test_existing_files_are_never_overwritten_without_force(interview: Any, tmp_path: Path) -> None:
    (tmp_path / "spec.md").write_text("mine\n")
    script = Script(_draft())
    code, _, err = interview(script, "notes\n")
    assert code == 2 and "spec.md exists; not overwriting it" in err
    assert script.prompts == []  # refused before the first question
    assert (tmp_path / "spec.md").read_text() == "mine\n"

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.yaml").write_text("id: keep\n")
    code, _, err = interview(script, "notes\n", "--out", "other.md", "--scenarios", "full")
    assert code == 2 and "is not empty; not writing scenarios into it" in err
    assert not (tmp_path / "other.md").exists()

    code, _, err = interview(script, "notes\n", "--force")
    assert code == 0, err
    assert load_spec(tmp_path / "spec.md").name == "notes-api"


def test_a_model_that_never_drafts_hits_the_round_limit(interview: Any, tmp_path: Path) -> None:
    script = Script(_asks("And another thing?"))
    code, _, err = interview(script, "notes\na\nb\n", "--max-rounds", "2")
    assert code == 3
    assert "asked questions again after 2 round(s) (the limit, --max-rounds 2)" in err
    assert len(script.prompts) == 3
    assert "No questions left: return the Draft now" in script.prompts[2]
    assert not (tmp_path / "spec.md").exists()


def test_stdin_ending_mid_interview_is_a_clear_error(interview: Any, tmp_path: Path) -> None:
    script = Script(_asks("One?", "Two?"), _draft())
    code, _, err = interview(script, "notes\nonly one answer\n")
    assert code == 2
    assert "standard input ended before every question was answered; nothing was written" in err
    assert not (tmp_path / "spec.md").exists()


def test_exec_ws_and_browser_steps_render_to_files_that_lint_clean(tmp_path: Path) -> None:
    from assay.agents.interviewer import BrowserDraft, ExecDraft, WsDraft
    from assay.commands._drafts import render_draft

    steps = [
        StepDraft(
            description="Print the version",
            exec=ExecDraft(command="notes --version", timeout="5s"),
            expect="Prints a version number.",
            assertions=AssertDraft(exit_code=0, stdout_contains="notes"),
        ),
        StepDraft(
            description="Subscribe",
            ws=WsDraft(url="/ws/notes", send='{"subscribe": true}', receive_count=1),
            expect="One message confirms the subscription.",
        ),
        StepDraft(
            description="Open the page",
            browser=BrowserDraft(action="navigate", url="/"),
            expect="The page loads.",
        ),
        StepDraft(
            description="See the title",
            browser=BrowserDraft(action="assert", selector="h1", text="Notes"),
            expect="The title says Notes.",
            assertions=AssertDraft(
                json_checks=[JsonCheckDraft(path="$.title", equals="")]  # "" is a value
            ),
        ),
    ]
    draft = _draft(scenarios=[ScenarioDraft(id="mixed", description="Every kind", steps=steps)])
    files = render_draft(draft)
    for name, text in files.scenarios.items():
        (tmp_path / name).write_text(text)
    loaded = load_dir(tmp_path)
    assert loaded.problems == []
    ex, ws, nav, check = loaded.scenarios[0].steps
    assert ex.exec_ is not None and ex.exec_.timeout == 5.0 and ex.exec_.command.startswith("notes")
    assert ws.ws is not None and ws.ws.receive is not None and ws.ws.receive.count == 1
    assert nav.browser is not None and nav.browser.url == "/"
    assert check.assertions is not None and check.assertions.json_[0].equals == ""


def test_without_a_model_the_error_names_every_way_to_configure_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("ASSAY_MODEL", "ASSAY_INTERVIEW_MODEL", "ASSAY_TESTING_MODELS"):
        monkeypatch.delenv(var, raising=False)
    assert main(["interview", "--about", "notes"]) == 2
    err = capsys.readouterr().err
    assert "no model for the interview" in err and "ASSAY_INTERVIEW_MODEL" in err
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["interview", "--about", "notes", "--model", "openai:gpt-4.1"]) == 2
    assert "needs OPENAI_API_KEY" in capsys.readouterr().err  # built through build_model
    assert not (tmp_path / "spec.md").exists()

"""Each role is told its world: prompts built from a run's real settings, gates and scaffold."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.architect import architect_agent, architect_prompt
from assay.agents.coder import coder_prompt_parts
from assay.agents.reviewer import reviewer_prompt_parts
from assay.agents.tester import tester_prompt_parts as prompt_for_tester
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import EXAMPLE_AFTER, EXAMPLE_BEFORE, EXAMPLE_CHANGESET, World
from assay.changeset import apply_changeset
from assay.config import FactoryConfig, GatePolicy, SandboxConfig, Settings
from assay.factory.context import PREVIEW_PACKAGE, run_world, write_preview
from assay.factory.scaffold import PROTECTED_SCAFFOLD, scaffold_files
from assay.gates.base import Gate, GateContext, GateReport, Scan, SeverityName
from assay.gates.builtin import assay_gates
from assay.messages import Changeset, Design, SecurityReview, Spec, TestSuite

SPEC = Spec(name="hello-api", title="Hello API", body="# Hello API\n\nListen on 8080.\n")
DESIGN = Design(
    summary="Says hello over HTTP.",
    package="hello_api",
    file_plan=["src/hello_api/__init__.py", "src/hello_api/__main__.py"],
    start_command="python -m hello_api",
)
# A run whose settings differ from every default the world reports.
SETTINGS = Settings(
    gates={
        "complexity": GatePolicy.model_validate({"max": 12}),
        "pytest": GatePolicy.model_validate({"coverage": 70}),
        "bandit": GatePolicy.model_validate({"skip": ["B404"], "fail_on": "high"}),
        "depaudit": GatePolicy(enabled=False),
        "mypy": GatePolicy(required=False),
    },
    factory=FactoryConfig(require_review=False),
    sandbox=SandboxConfig(backend="bwrap"),
)


def world(settings: Settings = SETTINGS, design: Design | None = DESIGN) -> World:
    return run_world(settings, assay_gates(), SPEC, design)


def gate_line(text: str, gate: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith(f"- `{gate}` (")]
    assert len(lines) == 1, f"one line for gate {gate} expected in:\n{text}"
    return lines[0]


def all_prompts(w: World, root: Path) -> dict[str, str]:
    return {
        "architect": architect_prompt(SPEC, w),
        "tester": "".join(prompt_for_tester(SPEC, DESIGN, w)),
        "coder": "".join(
            coder_prompt_parts(
                spec=SPEC,
                design=DESIGN,
                iteration=2,
                listing=["src/hello_api/__init__.py"],
                context={},
                protected=list(PROTECTED_SCAFFOLD),
                feedback=None,
                world=w,
            )
        ),
        "security-reviewer": "".join(
            reviewer_prompt_parts(
                DESIGN,
                Changeset(),
                GateReport(root=".", passed=True, summary="", results=[], duration_s=0.0),
                root=root,
                world=w,
            )
        ),
    }


def test_every_prompt_holds_the_python_version_and_how_the_service_starts(tmp_path: Path) -> None:
    for role, prompt in all_prompts(world(), tmp_path).items():
        assert prompt.startswith("<environment>\n"), role  # the fixed part first
        assert "Python 3.11 (requires-python >=3.11, ruff target-version py311" in prompt, role
        assert "assay's own interpreter (Python 3." in prompt, role  # the bwrap backend
        assert "`PYTHONPATH=src`" in prompt and "`PORT`" in prompt, role
        assert "no shell" in prompt.lower() or "There is no shell" in prompt, role
        assert "without network" in prompt, role
        assert "installs exactly the lock, offline" in prompt, role
        assert "Dependencies the policy allows: `fastapi`" in prompt, role


def test_the_components_locked_for_the_design_are_named(tmp_path: Path) -> None:
    from assay.agents.world import World
    from assay.config import Settings

    w = World.build(
        Settings(regulated=True), [], scaffold={}, protected=[], installed=["fastapi==0.165.0"]
    )
    text = w.render("coder")
    assert "Installed for this design: fastapi==0.165.0." in text
    assert "(regulated: only these, transitive ones included)" in text


def test_gate_limits_come_from_the_settings(tmp_path: Path) -> None:
    prompts = all_prompts(world(), tmp_path)
    for role in ("architect", "tester", "coder"):
        text = prompts[role]
        assert "cyclomatic complexity 12" in gate_line(text, "complexity"), role
        assert "at least 70%" in gate_line(text, "pytest"), role
        bandit = gate_line(text, "bandit")
        assert "skipped: B404" in bandit and "of high severity or above" in bandit
        assert "advisory" in gate_line(text, "mypy") and "--strict" in gate_line(text, "mypy")
        assert "`depaudit`" not in text  # disabled: not in the run
        assert "advisory" in gate_line(text, "security-review")  # require_review = false
        ruff = gate_line(text, "ruff")
        assert "rules E, F, W, I, B, UP, S, SIM" in ruff and "line-length 100" in ruff
        assert "`ruff format --check`" in ruff
        assert "where it differs" not in text or "environment wins" in text
        assert '"listen on 8080" means "listen on $PORT"' in text
        assert "the spec rules" in text
    # the defaults, when the settings say nothing
    default = world(Settings()).render("coder")
    assert "cyclomatic complexity 10 (mccabe" in gate_line(default, "complexity")
    assert "at least 80%" in gate_line(default, "pytest")
    assert "required" in gate_line(default, "security-review")


def test_scaffold_and_protected_files_are_named(tmp_path: Path) -> None:
    prompts = all_prompts(world(), tmp_path)
    for role in ("architect", "tester", "coder"):
        text = prompts[role]
        owned = next(line for line in text.splitlines() if "assay writes the scaffold" in line)
        for path in scaffold_files(SPEC, DESIGN):
            assert f"`{path}`" in owned, (role, path)
        protected = next(line for line in text.splitlines() if line.startswith("- Protected"))
        for pattern in PROTECTED_SCAFFOLD:
            assert f"`{pattern}`" in protected, (role, pattern)
    assert "not the scaffold, not the tests" in prompts["architect"]
    assert "You cannot run anything" in prompts["coder"]
    assert "You cannot run anything" in prompts["tester"]


def test_the_reviewer_is_told_the_analysers_and_line_numbers(tmp_path: Path) -> None:
    text = all_prompts(world(), tmp_path)["security-reviewer"]
    for gate in ("bandit", "semgrep", "secrets"):
        gate_line(text, gate)
    assert "`ruff`" not in text and "## Gates" not in text  # only what it is given
    assert "`   12 | code`" in text


def _json_block(text: str) -> str:
    match = re.search(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert match, text
    return match.group(1)


def test_the_diff_example_applies(tmp_path: Path) -> None:
    """The example the coder is shown is a valid Changeset that assay.changeset applies."""
    text = world().render("coder")
    shown = Changeset.model_validate_json(_json_block(text))
    assert shown == EXAMPLE_CHANGESET
    # the file as shown, numbered so that its empty lines count: the hunk's "-4,2" is findable
    numbered = [
        f"{i:>2} | {line}".rstrip() for i, line in enumerate(EXAMPLE_BEFORE.splitlines(), 1)
    ]
    assert "\n".join(numbered) in text and " 4 | def greet(name: str) -> str:" in text
    assert "5 lines" in text and len(numbered) == 5
    core = tmp_path / "src" / "app" / "core.py"
    core.parent.mkdir(parents=True)
    core.write_text(EXAMPLE_BEFORE, encoding="utf-8")
    (tmp_path / "src" / "app" / "old.py").write_text("OLD = 1\n", encoding="utf-8")
    applied = apply_changeset(tmp_path, shown)
    assert core.read_text(encoding="utf-8") == EXAMPLE_AFTER != EXAMPLE_BEFORE
    assert (tmp_path / "src" / "app" / "__init__.py").read_text(encoding="utf-8")
    assert not (tmp_path / "src" / "app" / "old.py").exists()
    assert applied.deleted == ["src/app/old.py"]
    assert "the whole new file" in text and "@@ -OLD_START,OLD_COUNT" in text


class _SourceOnlyGate:
    """A plugin's gate that checks only source files, with options of its own."""

    name = "docstrings"
    tool = "pydocstyle"
    cost = 1
    per_file = True
    default_fail_on: SeverityName = "medium"

    def applies(self, ctx: GateContext) -> bool:
        return True

    def version(self) -> str:
        return "1"

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        return [f for f in ctx.files if f.startswith("src/")]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        return Scan()


def test_a_gates_scope_is_asked_of_the_gate() -> None:
    gates: list[Gate] = [*assay_gates(), _SourceOnlyGate()]
    settings = Settings(gates={"docstrings": GatePolicy.model_validate({"convention": "pep257"})})
    text = run_world(settings, gates, SPEC, DESIGN).render("coder")
    line = gate_line(text, "docstrings")
    assert "checks Python files in src/ (not tests/)" in line
    assert "convention = 'pep257'" in line and "of medium severity" in line
    assert "every other text file" in gate_line(text, "secrets")
    assert "checks pyproject.toml" in gate_line(text, "depaudit")
    assert "Python files in src/ (not tests/)" in gate_line(text, "complexity")


def test_ruff_select_option_replaces_the_project_rules() -> None:
    settings = Settings(gates={"ruff": GatePolicy.model_validate({"select": ["E", "F"]})})
    line = gate_line(run_world(settings, assay_gates(), SPEC, DESIGN).render("coder"), "ruff")
    assert "rules E, F (the project's own ruff config is ignored)" in line


def test_the_world_is_the_same_every_time() -> None:
    """Stable-prefix friendly: nothing in it depends on the iteration, the clock or a temp path."""
    assert world().render("coder") == world().render("coder")
    first = "".join(coder_prompt_parts(
        spec=SPEC, design=DESIGN, iteration=1, listing=[], context={}, protected=[],
        feedback=None, world=world(),
    ))  # fmt: skip
    later = "".join(coder_prompt_parts(
        spec=SPEC, design=DESIGN, iteration=5, listing=["a.py"], context={"a.py": "x"},
        protected=[], feedback=None, world=world(),
    ))  # fmt: skip
    fixed = first.split("Iteration 1 of building")[0]
    assert later.startswith(fixed) and "</design>" in fixed
    # Not a temp file: the coder's prompt must name no /tmp path beyond the private one.
    rendered = world().render("coder").replace("/tmp is private", "")  # nosec B108
    assert "/tmp" not in rendered  # nosec B108


def test_schemas_carry_the_field_docstrings() -> None:
    schema = Design.model_json_schema()
    described = {k for k, v in schema["properties"].items() if v.get("description")}
    assert set(schema["properties"]) - described <= {"kind"}
    assert "$PORT" in schema["properties"]["start_command"]["description"]
    endpoint = schema["$defs"]["Endpoint"]["properties"]
    assert all(v.get("description") for v in endpoint.values())
    for model in (TestSuite, Changeset, SecurityReview):
        props = model.model_json_schema()["properties"]
        assert all(v.get("description") for k, v in props.items() if k != "kind"), model


async def test_the_output_tool_pydantic_ai_sends_carries_descriptions(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def architect(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen["schema"] = info.output_tools[0].parameters_json_schema
        seen["tools"] = [t.name for t in info.function_tools]
        args = DESIGN.model_dump(mode="json", exclude={"kind"})
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    agent = architect_agent(FunctionModel(architect))
    result = await agent.run(architect_prompt(SPEC), deps=WorkspaceDeps(tmp_path))
    assert result.output.package == "hello_api"
    text = json.dumps(seen["schema"])
    assert "How the service starts, reading ``$PORT``" in text
    assert "Every file the coder is expected to write." in text
    assert "HTTP method" in text
    assert {"list_files", "read_file", "search_files"} <= set(seen["tools"])


async def test_the_architect_reads_the_scaffold_it_will_get(tmp_path: Path) -> None:
    """Before the design exists its tools see the scaffold, rendered for a `<package>`."""
    write_preview(tmp_path, SPEC)
    read: list[str] = []

    def architect(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [
            p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)
        ]
        if not returns:
            return ModelResponse(parts=[ToolCallPart("read_file", {"path": "pyproject.toml"})])
        read.append(str(returns[-1].content))
        args = DESIGN.model_dump(mode="json", exclude={"kind"})
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    agent = architect_agent(FunctionModel(architect))
    prompt = architect_prompt(SPEC, world(design=None))
    await agent.run(prompt, deps=WorkspaceDeps(tmp_path))
    assert "[tool.ruff.lint]" in read[0] and f'packages = ["src/{PREVIEW_PACKAGE}"]' in read[0]
    assert f"`src/{PREVIEW_PACKAGE}/py.typed`" in prompt


@pytest.mark.parametrize("backend", ["docker", "auto"])
def test_the_interpreter_follows_the_sandbox_backend(backend: str) -> None:
    settings = Settings(sandbox=SandboxConfig(backend=backend, image="localhost/py:test"))
    text = world(settings).render("tester")
    assert "the python3 of the sandbox image `localhost/py:test`" in text
    assert ("assay's own interpreter" in text) == (backend == "auto")

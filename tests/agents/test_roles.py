"""Role agents: malformed output is retried with the validation error; tools stay inside."""

from __future__ import annotations

from pathlib import Path

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.architect import architect_agent, architect_prompt
from assay.agents.coder import coder_agent
from assay.agents.tools import WorkspaceDeps
from assay.messages import Spec

SPEC = Spec(name="svc", body="# svc\n\nA service.\n")


async def test_malformed_output_is_retried_with_the_error() -> None:
    seen: list[str] = []

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        tool = info.output_tools[0].name
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart(tool, {"summary": "no package given"})])
        # the validation error comes back as the output tool's result (or a retry prompt)
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        seen.append(" ".join(str(getattr(p, "content", "")) for p in last.parts))
        return ModelResponse(parts=[ToolCallPart(tool, {"summary": "ok", "package": "svc"})])

    result = await architect_agent(FunctionModel(fn)).run(
        architect_prompt(SPEC), deps=WorkspaceDeps(Path("."))
    )
    assert result.output.package == "svc"
    assert seen and "package" in seen[0] and "Field required" in seen[0]


async def test_coder_tools_read_inside_the_workspace_only(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "a.py").write_text("SECRET_IN_WS = 1\n")
    (tmp_path / "outside.txt").write_text("OUTSIDE\n")
    (ws / "src" / "link.txt").symlink_to(tmp_path / "outside.txt")
    returns: dict[str, str] = {}

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[
                ToolCallPart("list_files", {}, tool_call_id="l"),
                ToolCallPart("read_file", {"path": "src/a.py"}, tool_call_id="a"),
                ToolCallPart("read_file", {"path": "../outside.txt"}, tool_call_id="o"),
                ToolCallPart("read_file", {"path": "src/link.txt"}, tool_call_id="s"),
                ToolCallPart("search_files", {"pattern": "SECRET"}, tool_call_id="g"),
            ])  # fmt: skip
        for part in messages[-1].parts:
            returns[getattr(part, "tool_call_id", "")] = str(getattr(part, "content", ""))
        tool = info.output_tools[0].name
        return ModelResponse(parts=[ToolCallPart(tool, {"rationale": "nothing"})])

    await coder_agent(FunctionModel(fn)).run("go", deps=WorkspaceDeps(ws))
    assert returns["l"] == "src/a.py"  # the symlink is not listed
    assert "SECRET_IN_WS" in returns["a"]
    assert "outside the workspace" in returns["o"]
    assert "outside the workspace" in returns["s"]
    assert returns["g"] == "src/a.py:1: SECRET_IN_WS = 1"

"""A scripted team for the factory tests: a tiny `app` package whose first version has a lint
error no fixer fixes (E741, an ambiguous name), a type error, a bandit finding and a failing
holdout scenario. The coder fixes each defect only once the feedback names it (or the file it
reads through its tool already has the fix).

Importable by path so a subprocess can use it via ASSAY_TESTING_MODELS=scripted_app:models.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.messages import (
    Changeset,
    Design,
    FileChange,
    ModuleSpec,
    SecurityFinding,
    SecurityReview,
    Spec,
    TestFile,
    TestSuite,
)
from assay.testing import last_prompt, scripted

CANARY = "CANARY-7f3e9c1d-holdout-marker"
SCENARIO_TITLE = "greeting says hello"

SPEC = Spec(name="greeter", title="Greeter", body="# Greeter\n\nA library that greets people.\n")

DESIGN = Design(
    summary="A tiny greeting library.",
    package="app",
    modules=[ModuleSpec(path="src/app/core.py", purpose="greetings", interface=["greet(name)"])],
    file_plan=["src/app/__init__.py", "src/app/core.py"],
    threat_model=["weak hashing of identifiers: use sha256"],
    test_strategy="unit tests of greet",
)

TEST_CODE = """from app.core import greet, tag


def test_greet_mentions_name() -> None:
    assert "Ada" in greet("Ada")


def test_tag_is_hex() -> None:
    int(tag("Ada"), 16)
"""

SUITE = TestSuite(files=[TestFile(path="tests/test_core.py", content=TEST_CODE)], rationale="t")

CORE = Path("src/app/core.py")
LINT_DEFECT = "l = 1"
"""E741 (an ambiguous variable name): a lint error ruff's safe fixes and its formatter leave."""


def render_core(*, lint: bool, types: bool, bandit: bool, scenario: bool, note: str = "") -> str:
    """core.py with each defect present unless its flag says it is fixed."""
    lines = ['"""Greetings."""', ""]
    lines += ["import hashlib", ""]
    if not lint:
        lines += ["", LINT_DEFECT]
    if note:
        lines += [f"# {note}", ""]
    lines += ["", "def greet(name: str) -> str:"]
    lines.append('    return f"Hello, {name}!"' if scenario else '    return f"Hi, {name}"')
    lines += ["", "", "def count(items: list[str]) -> int:"]
    lines.append("    return len(items)" if types else "    return str(len(items))")
    lines += ["", "", "def tag(name: str) -> str:"]
    algo = "sha256" if bandit else "md5"
    lines.append(f"    return hashlib.{algo}(name.encode()).hexdigest()")
    return "\n".join(lines) + "\n"


def _read_back(messages: list[ModelMessage]) -> str | None:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and part.tool_name == "read_file":
                    return str(part.content)
            if any(not isinstance(p, ToolReturnPart) for p in message.parts):
                return None
    return None


def _feedback(prompt: str) -> str:
    match = re.search(r"<feedback>(.*?)</feedback>", prompt, re.DOTALL)
    return match.group(1) if match else ""


def fixing_coder(*, note: str = "", stubborn: bool = False, name: str = "coder") -> FunctionModel:
    """A coder that reads core.py through its tool, then fixes whatever the feedback names."""

    def function(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        _pause()
        current = _read_back(messages)
        if current is None:
            call = ToolCallPart("read_file", {"path": CORE.as_posix()})
            return ModelResponse(parts=[call], model_name=name)
        prompt = last_prompt(messages)
        fb = "" if stubborn else _feedback(prompt)
        have = "no such file" not in current
        it = re.search(r"Iteration (\d+)", prompt)
        text = render_core(
            lint=(have and LINT_DEFECT not in current) or "E741" in fb,
            types=(have and "str(len(items))" not in current) or "mypy" in fb,
            bandit=(have and "md5" not in current) or "B324" in fb,
            scenario=(have and "Hello" in current) or SCENARIO_TITLE in fb,
            note=note.format(n=it.group(1) if it else "0"),
        )
        out = Changeset(
            files=[
                FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
                FileChange(path=CORE.as_posix(), content=text),
            ],
            rationale="write core" if not fb else "fix what the feedback names",
        )
        args = out.model_dump(mode="json")
        args.pop("kind")
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)], model_name=name)

    return FunctionModel(function, model_name=name)


def _pause() -> None:
    """Slow the scripted team down (SCRIPTED_DELAY seconds) so a kill lands mid-step."""
    time.sleep(float(os.environ.get("SCRIPTED_DELAY", "0")))


def reviewer() -> FunctionModel:
    """Rejects while bandit reports weak hashing, approves otherwise."""

    def respond(prompt: str) -> SecurityReview:
        _pause()
        if "B324" in prompt:
            finding = SecurityFinding(
                cwe="CWE-328", severity="medium", file="src/app/core.py", message="md5 is weak"
            )
            return SecurityReview(verdict="reject", findings=[finding], summary="weak hash")
        return SecurityReview(verdict="approve", summary="nothing found")

    return scripted(respond, name="reviewer")


def models() -> dict[str, Model]:
    """The team: the entry point for ASSAY_TESTING_MODELS."""
    return {
        "architect": scripted(lambda _: DESIGN, name="architect"),
        "tester": scripted(lambda _: SUITE, name="tester"),
        "coder": fixing_coder(),
        "security-reviewer": reviewer(),
    }


async def validator(workspace: Path, design: Design, iteration: int) -> ValidationResult:
    """A real holdout check: import the generated package in a fresh interpreter and greet."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(workspace / "src")}
    proc = subprocess.run(
        [sys.executable, "-c", "from app.core import greet; print(greet('Ada'))"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    observed = proc.stdout.strip() or proc.stderr.strip()[-200:]
    passed = observed == "Hello, Ada!"
    outcome = ScenarioOutcome(
        id="greet", title=SCENARIO_TITLE, passed=passed, score=100.0 if passed else 0.0,
        observed=observed, reasons=f"expected 'Hello, Ada!' ({CANARY})",
    )  # fmt: skip
    return ValidationResult(satisfaction=outcome.score, scenarios=[outcome])

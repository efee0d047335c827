"""What the security reviewer is sent, and where its findings go: real bandit and detect-secrets
over a workspace, SAST results grouped by rule, numbered code, and an approving review's findings
recorded, reported and (``review_feedback = "all"``) fed to the coder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.reviewer import number_lines, render_sast, reviewer_prompt_parts
from assay.config import FactoryConfig, Settings
from assay.evidence.report_html import render_html
from assay.evidence.summary import summarize
from assay.factory.loop import Factory, RoleModels
from assay.gates.bandit import BanditGate
from assay.gates.base import GateReport
from assay.gates.ruff import RuffGate
from assay.gates.runner import GateRunner
from assay.gates.secrets import SecretsGate
from assay.ledger import Ledger
from assay.ledger import kinds as k
from assay.messages import Changeset, Design, FileChange, SecurityFinding, SecurityReview
from assay.testing import last_prompt, scripted

_spec = importlib.util.spec_from_file_location(
    "scripted_app", Path(__file__).parents[1] / "factory" / "scripted_app.py"
)
assert _spec and _spec.loader
app = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("scripted_app", app)
_spec.loader.exec_module(app)

DESIGN = Design(summary="s", package="app", threat_model=["shell injection: no shell"])
SOURCE = "import subprocess\n\n\ndef check(values: list[int]) -> None:\n" + "".join(
    f"    assert values[{i}] == {i}\n" for i in range(100)
)
RUN = "\n\ndef run(cmd: str) -> None:\n    subprocess.run(cmd, shell=True)  # noqa: S602\n"
TESTS = "from app.core import check\n\n\ndef test_check() -> None:\n" + "".join(
    f"    assert {i} == {i}\n" for i in range(100)
)


async def _workspace(root: Path) -> GateReport:
    (root / "src" / "app").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "app" / "core.py").write_text(SOURCE + RUN, encoding="utf-8")
    (root / "tests" / "test_core.py").write_text(TESTS, encoding="utf-8")
    return await GateRunner(root, Settings(), [BanditGate(), SecretsGate()]).run()


async def test_sast_is_grouped_by_rule_and_test_asserts_are_left_out(tmp_path: Path) -> None:
    report = await _workspace(tmp_path)
    bandit = next(r for r in report.results if r.gate == "bandit")
    b101 = [f for f in bandit.findings if f.rule_id == "B101"]
    assert not [f for f in b101 if f.file.startswith("tests/")]  # the gate leaves them out
    assert len([f for f in b101 if f.file.startswith("src/")]) == 100
    text = render_sast(report)
    lines = text.splitlines()
    assert lines[0] == "bandit: 102 finding(s)"  # none in tests to leave out: see above
    b101_lines = [line for line in lines if "B101" in line]
    assert len(b101_lines) == 1 and "[low] x100:" in b101_lines[0]
    assert "src/app/core.py:5, src/app/core.py:6" in b101_lines[0]
    assert b101_lines[0].endswith("and 95 more)")
    assert "tests/" not in text
    assert any(line.startswith("- B602 [high]:") for line in lines)  # shell=True, most severe
    assert lines.index(next(x for x in lines if "B602" in x)) < lines.index(b101_lines[0])
    assert "secrets: none" in lines
    assert "semgrep: not run in this run" in lines


async def test_the_changed_code_is_numbered(tmp_path: Path) -> None:
    report = await _workspace(tmp_path)
    changeset = Changeset(
        files=[FileChange(path="src/app/core.py", content=SOURCE + RUN),
               FileChange(path="src/app/gone.py", content="x = 1\n")],
        deletions=["src/app/old.py"], rationale="checks",
    )  # fmt: skip
    stable, changing = reviewer_prompt_parts(DESIGN, changeset, report, root=tmp_path)
    assert stable.startswith("<threat-model>\n") and stable.endswith("</threat-model>\n\n")
    prompt = stable + changing
    assert "    1 | import subprocess\n" in prompt
    assert "  108 |     subprocess.run(cmd, shell=True)  # noqa: S602\n" in prompt
    assert "- shell injection: no shell" in prompt.split("<changes>")[0]
    gone = prompt.split('<file path="src/app/gone.py">')[1]
    assert gone.startswith("\n(not in the workspace")
    assert "deleted: src/app/old.py" in prompt
    assert number_lines("a\nb") == "    1 | a\n    2 | b"


def test_a_tool_that_could_not_run_says_so(tmp_path: Path) -> None:
    from assay.gates.base import GateResult, GateStatus

    errored = GateResult(
        gate="semgrep", tool="semgrep", tool_version="", status=GateStatus.ERROR, required=True,
        duration_s=0.0, message="semgrep is not installed",
    )  # fmt: skip
    report = GateReport(root=".", passed=False, summary="", results=[errored], duration_s=0.0)
    assert "semgrep: error: semgrep is not installed" in render_sast(report).splitlines()


# -- an approving review's findings: recorded, reported, fed back with review_feedback = "all" --

LOW = SecurityFinding(
    cwe="CWE-20", severity="low", file="src/app/core.py", line=3,
    message="a float overflow is serialised as Infinity, which is not JSON",
)  # fmt: skip


async def _run(
    tmp_path: Path, review_feedback: Literal["blocking", "all"]
) -> tuple[Path, list[str]]:
    prompts: list[str] = []
    inner = app.fixing_coder()

    def coder(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompts.append(last_prompt(messages))
        return inner.function(messages, info)  # type: ignore[no-any-return]

    approve = SecurityReview(verdict="approve", findings=[LOW], summary="one low")
    roles = app.models()
    models = RoleModels(
        architect=roles["architect"], tester=roles["tester"], coder=FunctionModel(coder),
        reviewer=scripted(lambda _: approve, name="reviewer"),
        labels={r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")},
    )  # fmt: skip
    run_dir = tmp_path / review_feedback
    settings = Settings(factory=FactoryConfig(max_iterations=2, review_feedback=review_feedback))
    factory = Factory(run_dir, spec=app.SPEC, settings=settings, models=models, gates=[RuffGate()])
    await factory.run()
    return run_dir, prompts


@pytest.mark.parametrize("mode", ["all", "blocking"])
async def test_an_approving_reviews_findings(
    tmp_path: Path, mode: Literal["blocking", "all"]
) -> None:
    run_dir, prompts = await _run(tmp_path, mode)
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
        run_id = ledger.run_id
    reviews = [e.payload for e in events if e.kind == k.SECURITY_REVIEW]
    assert reviews[0]["verdict"] == "approve"
    assert reviews[0]["findings"][0]["message"] == LOW.message  # recorded
    html = render_html(summarize(events, run_id=run_id))
    assert "Infinity, which is not JSON" in html and "CWE-20" in html  # shown in the report
    second = [p for p in prompts if "Iteration 2 of building" in p]
    assert second, "the run went on to a second iteration (ruff's F401 in the first)"
    feedback = second[-1].split("<feedback>")[1]
    assert ("security-review CWE-20 src/app/core.py:3" in feedback) == (mode == "all")


async def test_a_small_change_to_a_file_it_saw_before_is_shown_as_the_change(
    tmp_path: Path,
) -> None:
    """Issue 15, point 6: the reviewer sees the diff with its context, not every file in full.
    One line of a 100-line file changed: its hunk, numbered as the file is now, with 8 lines
    either side; a new file, and a file mostly rewritten, are still shown in full."""
    report = await _workspace(tmp_path)
    before = SOURCE.replace("values[50] == 50", "values[50] == 49") + RUN
    (tmp_path / "src" / "app" / "new.py").write_text("y = 2\n", encoding="utf-8")
    changeset = Changeset(
        files=[FileChange(path="src/app/core.py", content=SOURCE + RUN),
               FileChange(path="src/app/new.py", content="y = 2\n")],
        rationale="fix the check",
    )  # fmt: skip
    prompt = "".join(reviewer_prompt_parts(
        DESIGN, changeset, report, root=tmp_path, before={"src/app/core.py": before}
    ))  # fmt: skip
    core = prompt.split('<file path="src/app/core.py"')[1].split("</file>")[0]
    assert "read_file for the rest" in core
    assert "@@ lines 47-63 of 108 @@" in core
    assert "    - |     assert values[50] == 49" in core
    assert "   55 +     assert values[50] == 50" in core
    assert "   47 |     assert values[42] == 42" in core and "values[41]" not in core
    assert "import subprocess" not in core  # far from the change
    assert '<file path="src/app/new.py">\n    1 | y = 2' in prompt
    rewritten = "".join(reviewer_prompt_parts(
        DESIGN, changeset, report, root=tmp_path, before={"src/app/core.py": "x = 1\n"}
    ))  # fmt: skip
    assert "    1 | import subprocess\n" in rewritten  # mostly new: in full


def test_git_reads_a_file_as_a_commit_had_it(tmp_path: Path) -> None:
    from assay.factory.git import Git

    git = Git(tmp_path)
    git.init()
    (tmp_path / "a.py").write_text("  indented = 1\n\n")
    first = git.commit_all("one")
    (tmp_path / "a.py").write_text("changed\n")
    git.commit_all("two")
    assert git.file_at(first, "a.py") == "  indented = 1\n\n"  # byte for byte
    assert git.file_at(first, "missing.py") is None
    assert git.file_at("0" * 40, "a.py") is None

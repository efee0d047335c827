"""A run given a house style: the architect, tester and coder receive it in the stable opening
of their prompts; ``run.started`` records its digest and the document; resume and the stored
run description give the roles the same one; a bad file stops ``assay run`` with exit 2."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.cli import main
from assay.commands._compose import RunDescription, recorded_run
from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.housestyle.extract import extract
from assay.housestyle.model import HouseStyle, load_house_style
from assay.housestyle.render import brief
from assay.ledger import Ledger, verify_run
from assay.ledger.keys import Signer
from assay.testing import last_prompt

REPO = Path(__file__).resolve().parents[2]
EXEMPLAR = REPO / "tests" / "fixtures" / "housestyle" / "exemplar"
_spec = importlib.util.spec_from_file_location(
    "scripted_app", REPO / "tests" / "factory" / "scripted_app.py"
)
assert _spec and _spec.loader
app = importlib.util.module_from_spec(_spec)
sys.modules["scripted_app"] = app
_spec.loader.exec_module(app)


def _listening(model: Model, role: str, seen: dict[str, list[str]]) -> FunctionModel:
    """`model` (a scripted FunctionModel), keeping every prompt it receives."""
    assert isinstance(model, FunctionModel) and model.function is not None
    inner = model.function

    def function(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen[role].append(last_prompt(messages))
        return inner(messages, info)  # type: ignore[return-value]  # scripted: never awaitable

    return FunctionModel(function, model_name=model.model_name)


async def test_roles_receive_the_house_style_before_anything_that_changes(tmp_path: Path) -> None:
    style = extract(EXEMPLAR)
    seen: dict[str, list[str]] = defaultdict(list)
    m = {role: _listening(model, role, seen) for role, model in app.models().items()}
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    run_dir = tmp_path / "runs" / "styled"
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(max_iterations=2)),
        models=models, gates=[RuffGate()], signer=Signer.generate(), house_style=style,
    )  # fmt: skip
    await factory.run()
    block = brief(style)
    # what the model is sent holds the exemplar's own lines, e.g. its exception handler
    assert "@app.exception_handler(ShopError)" in block and "web framework: fastapi" in block
    for role in ("architect", "tester", "coder"):
        assert seen[role], role
        for prompt in seen[role]:
            assert prompt.count(block) == 1, role
            at = prompt.index(block)
            assert at < prompt.index("<spec>"), role  # stable part first: environment, style
            assert prompt.index("<environment>") < at, role
    coder = list(dict.fromkeys(seen["coder"]))  # one prompt per iteration (tool calls repeat it)
    assert len(coder) == 2 and "<feedback>" in coder[1]
    assert coder[1].index(block) < coder[1].index("<feedback>")
    prefix = coder[0][: coder[0].index("Iteration")]
    assert coder[1].startswith(prefix)  # the iterations share the cached opening, style included
    assert not any("<house-style>" in p for p in seen["security-reviewer"])
    with Ledger.open(run_dir, create=False) as ledger:
        started = next(ledger.events(kind="run.started")).payload
        recorded = ledger.get_blob(started["house_style_blob"])
    assert started["house_style_sha256"] == style.digest()
    assert HouseStyle.model_validate_json(recorded) == style
    assert verify_run(run_dir).ok


def halting_team() -> dict[str, Model]:
    """``ASSAY_TESTING_MODELS`` target: every provider is down (the run stops after
    ``run.started``, for `assay resume` to read back)."""

    def down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelHTTPError(503, "scripted-outage", "the provider is down")

    roles = ("architect", "tester", "coder", "security-reviewer")
    return {role: FunctionModel(down, model_name=f"down-{role}") for role in roles}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose config names a house style extracted from the exemplar."""
    for var in ("ASSAY_MODEL", "ASSAY_STRONG_MODEL", "ASSAY_JUDGE_MODEL", "ASSAY_JUDGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:halting_team")
    (tmp_path / ".git").mkdir()  # config lookup stops here
    monkeypatch.chdir(tmp_path)
    assert main(["init", "demo"]) == 0
    out = tmp_path / "style" / "house-style.md"
    assert main(["extract", "--source", str(EXEMPLAR), "--out", str(out)]) == 0
    (tmp_path / "assay.toml").write_text(
        '[factory]\ngates = ["ruff"]\nhouse_style = "style/house-style.json"\n'
    )
    return tmp_path


RUN = ["run", "demo/spec.md", "--runs-dir", "runs", "--no-live"]


def test_the_setting_is_recorded_and_resume_uses_the_recorded_document(project: Path) -> None:
    assert main(RUN) == 3  # the provider is down: a run error after run.started
    (run_dir,) = (project / "runs").iterdir()
    file = (project / "style" / "house-style.json").resolve()
    style = load_house_style(file)
    with Ledger.open(run_dir, create=False) as ledger:
        started = next(ledger.events(kind="run.started")).payload
    assert started["house_style_file"] == str(file)
    assert started["house_style_sha256"] == style.digest()
    # a later edit of the file does not change the run: resume reads the recorded document
    data = json.loads(file.read_text())
    data["notes"] = ["an edit made after the run started"]
    file.write_text(json.dumps(data))
    again = recorded_run(run_dir, env=dict(os.environ))
    assert again.house_style == style and again.house_style_file == file
    # the fleet stores the description as JSON: the document travels with it
    assert RunDescription.model_validate_json(again.model_dump_json()) == again
    assert main(["resume", str(run_dir), "--no-live"]) == 3


BAD: dict[str, Any] = {
    "missing.json": None,
    "house-style.md": "# House style\n",
    "newer.json": {"schema_version": 2},
    "typo.json": "extra-key",
    "long.json": "long-snippet",
}


def _bad(project: Path, name: str) -> Path:
    path = project / name
    good = json.loads((project / "style" / "house-style.json").read_text())
    content = BAD[name]
    if content == "extra-key":
        good["layout"]["packge_layout"] = "src"
        path.write_text(json.dumps(good))
    elif content == "long-snippet":
        good["snippets"][0]["code"] = "x = 1\n" * 31
        path.write_text(json.dumps(good))
    elif isinstance(content, dict):
        path.write_text(json.dumps(good | content))
    elif content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("missing.json", "cannot read: No such file or directory"),
        ("house-style.md", "not JSON"),
        ("newer.json", "schema_version 2 is not one this assay reads (1)"),
        ("typo.json", "[layout.packge_layout] Extra inputs are not permitted"),
        ("long.json", "has 31 lines (at most 30)"),
    ],
)
def test_a_bad_house_style_is_a_clear_error_before_the_run(
    project: Path, capsys: pytest.CaptureFixture[str], name: str, says: str
) -> None:
    path = _bad(project, name)
    assert main([*RUN, "--house-style", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: house style {path}: " in err and says in err
    assert not (project / "runs").exists()  # nothing started, nothing to clean up


def test_a_config_naming_a_missing_file_is_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "style" / "house-style.json").unlink()
    assert main(RUN) == 2
    assert "house style" in capsys.readouterr().err and not (project / "runs").exists()

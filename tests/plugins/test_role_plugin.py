"""A plugin's role (hook ``assay_roles``) replaces a built-in role agent in a real factory run."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.recording import RecordingModel
from assay.agents.tools import WorkspaceDeps
from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.messages import Design, SecurityReview
from assay.plugins import (
    AssayPluginManager,
    PluginError,
    PluginWarning,
    hookimpl,
    make_plugin_manager,
    roles,
)
from assay.testing import scripted

_spec = importlib.util.spec_from_file_location(
    "scripted_app", Path(__file__).parents[1] / "factory" / "scripted_app.py"
)
assert _spec and _spec.loader
app = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("scripted_app", app)
_spec.loader.exec_module(app)

SUMMARY = "reviewed by the house security policy ROLE-PLUGIN-7c1"


class HouseReviewer:
    """An in-process plugin offering its own security reviewer."""

    def __init__(self, output_type: type[Any] = SecurityReview) -> None:
        self.output_type = output_type
        self.given: list[Model] = []

    def reviewer(self, model: Model) -> Agent[WorkspaceDeps, Any]:
        self.given.append(model)
        own = scripted(lambda _: SecurityReview(verdict="approve", summary=SUMMARY), name="house")
        return Agent(own, output_type=self.output_type, deps_type=WorkspaceDeps, name="house")

    @hookimpl
    def assay_roles(self) -> dict[str, Any]:
        return {"security-reviewer": self.reviewer}


def manager(plugin: object, name: str, *, required: bool = False) -> AssayPluginManager:
    pm = make_plugin_manager(settings=Settings(), autoload=False)
    pm.register(plugin, name=name)
    if required:  # as plugins.require would, for a plugin registered in-process
        pm.required = (name,)
    return pm


async def run_once(run_dir: Path, pm: AssayPluginManager) -> list[dict[str, Any]]:
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(max_iterations=1)),
        models=models, gates=[RuffGate()], roles=roles(pm),
    )  # fmt: skip
    await factory.run()
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.payload for e in ledger.events(kind="security.review")]


async def test_a_plugin_reviewer_writes_the_recorded_review(tmp_path: Path) -> None:
    plugin = HouseReviewer()
    [review] = await run_once(tmp_path / "run", manager(plugin, "house-review"))
    assert review["summary"] == SUMMARY
    assert review["verdict"] == "approve"
    [model] = plugin.given  # called once, with the role's configured model, recorded
    assert isinstance(model, RecordingModel) and model.model_label == "test:security-reviewer"


async def test_a_wrong_output_type_is_reported_and_the_builtin_reviews(tmp_path: Path) -> None:
    pm = manager(HouseReviewer(output_type=Design), "house-review")
    with pytest.warns(
        PluginWarning, match=r"plugin 'house-review' role 'security-reviewer'.*Design"
    ):
        [review] = await run_once(tmp_path / "run", pm)
    assert review["summary"] in {"weak hash", "nothing found"}  # scripted_app's own reviewer
    [problem] = [p for p in pm.problems if p.plugin == "house-review"]
    assert problem.kind == "bad-result"


def test_a_required_plugin_with_a_wrong_agent_fails_by_name() -> None:
    pm = manager(HouseReviewer(output_type=Design), "house-review", required=True)
    factory = roles(pm)["security-reviewer"]
    with pytest.raises(PluginError, match=r"plugin 'house-review' .*not SecurityReview"):
        factory(app.models()["security-reviewer"])


def test_a_factory_returning_no_agent_is_reported() -> None:
    class NotAnAgent:
        @hookimpl
        def assay_roles(self) -> dict[str, Any]:
            return {"coder": lambda model: "an agent, honestly"}

    pm = manager(NotAnAgent(), "liar", required=True)
    with pytest.raises(PluginError, match=r"plugin 'liar' role 'coder' .*str, not a pydantic_ai"):
        roles(pm)["coder"](app.models()["coder"])


def test_an_unknown_role_is_reported_by_name() -> None:
    class Extra:
        @hookimpl
        def assay_roles(self) -> dict[str, Any]:
            return {"product-owner": lambda model: None}

    pm = manager(Extra(), "extra-roles")
    with pytest.warns(PluginWarning, match=r"plugin 'extra-roles' offers unknown role"):
        assert roles(pm) == {}


def test_the_docs_role_example_builds_a_checked_reviewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = doc.split("## Replacing a role", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    (tmp_path / "assay_house_doc.py").write_text(code, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings.model_validate({"plugins": {"load": ["assay_house_doc"]}})
    pm = make_plugin_manager(settings=settings, autoload=False)
    agent = roles(pm)["security-reviewer"](app.models()["security-reviewer"])
    assert isinstance(agent, Agent) and agent.output_type is SecurityReview
    assert not pm.problems

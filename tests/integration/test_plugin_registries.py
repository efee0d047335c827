"""The registries are consulted: a plugin registered in-process supplies a model provider, a
judge and a sandbox backend, and assay uses what it supplies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.judge import Judge, JudgeRequest, Verdict, make_judge
from assay.agents.models import build_model
from assay.commands._compose import build_role_models, describe_models
from assay.config import ModelsConfig, SandboxConfig, Settings
from assay.errors import PluginFailure, UserError
from assay.messages import Judgement
from assay.plugins import AssayPluginManager, PluginRecord, hookimpl, load_plugins
from assay.sandbox import Sandbox, SandboxUnavailable, open_sandbox
from assay.sandbox.local import LocalSandbox
from assay.scenarios.executor import SandboxExecutor


def _echo(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("from the gateway")])


class FixedJudge(Judge):
    """A judge that always gives 42 without calling a model."""

    async def judge(self, request: JudgeRequest) -> Verdict:
        """One fixed sample."""
        sample = Judgement(score=42, reasoning="fixed", failures=[])
        return Verdict((sample,) * self.samples, self.model_name)


class Plugin:
    """Offers one of each."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def assay_model_providers(self) -> dict[str, Any]:
        def gateway(name: str) -> FunctionModel:
            self.calls.append(("provider", name))
            return FunctionModel(_echo, model_name=f"gw-{name}")

        return {"mygateway": gateway}

    @hookimpl
    def assay_judges(self) -> dict[str, Any]:
        def fixed(*, model: Any, samples: int, temperature: float | None) -> Judge:
            self.calls.append(("judge", samples))
            return FixedJudge(FunctionModel(_echo, model_name="fixed"), samples=samples)

        return {"fixed": fixed}

    @hookimpl
    def assay_sandbox_backends(self) -> dict[str, Any]:
        def mybox(workspace: Path, config: SandboxConfig, *, regulated: bool) -> Sandbox:
            self.calls.append(("sandbox", workspace))
            return LocalSandbox(workspace, regulated=regulated)

        return {"mybox": mybox}


def _manager() -> tuple[AssayPluginManager, Plugin]:
    pm = load_plugins(autoload=False)
    plugin = Plugin()
    pm.register(plugin, name="in-process")
    # the registries call plugins in `plugin_order`, which lists recorded plugins only
    pm.records["in-process"] = PluginRecord("in-process", "module", "loaded", __name__)
    pm.check_pending()
    return pm, plugin


async def test_model_provider_from_a_plugin() -> None:
    pm, plugin = _manager()
    model = build_model("mygateway:fast", env={}, plugins=pm)
    assert isinstance(model, FunctionModel) and model.model_name == "gw-fast"
    settings = Settings(models=ModelsConfig(default="mygateway:fast"))
    roles = build_role_models(describe_models(settings, env={}), settings, env={}, plugins=pm)
    assert roles.labels["coder"] == "mygateway:fast"
    assert roles.labels["preflight"] == "mygateway:fast"  # the spec's reviewer, too
    assert plugin.calls.count(("provider", "fast")) == 6  # one direct, four roles, preflight
    with pytest.raises(UserError, match=r"use anthropic:, openai:, mygateway:"):
        build_model("elsewhere:m", env={}, plugins=pm)


async def test_judge_from_a_plugin() -> None:
    pm, plugin = _manager()
    judge = make_judge("fixed", None, samples=2, plugins=pm)
    assert isinstance(judge, FixedJudge) and ("judge", 2) in plugin.calls
    verdict = await judge.judge(JudgeRequest(expectation="x", observation="y"))
    assert verdict.mean == 42 and len(verdict.samples) == 2
    with pytest.raises(UserError, match=r"no judge named 'other'.*\(fixed\)"):
        make_judge("other", None, plugins=pm)


async def test_sandbox_backend_from_a_plugin(tmp_path: Path) -> None:
    pm, plugin = _manager()
    box = open_sandbox(tmp_path, SandboxConfig(backend="mybox"), plugins=pm)
    assert box.name == "local" and ("sandbox", tmp_path) in plugin.calls
    result = await SandboxExecutor(box).run(["pwd"], env={}, stdin=None, timeout=10)
    assert result.exit_code == 0 and result.stdout.strip() == str(tmp_path.resolve())
    with pytest.raises(SandboxUnavailable, match="use one of auto, docker, bwrap, local, mybox"):
        open_sandbox(tmp_path, SandboxConfig(backend="nobox"), plugins=pm)


class Faulty:
    """Offers one of each, with the right shape; each fails when assay calls it."""

    @hookimpl
    def assay_model_providers(self) -> dict[str, Any]:
        def gateway(name: str) -> Any:
            return f"a model called {name}, honestly"

        return {"liar": gateway}

    @hookimpl
    def assay_judges(self) -> dict[str, Any]:
        def fixed(*, model: Any, samples: int, temperature: float | None) -> Judge:
            raise KeyError("samples")

        return {"crashy": fixed}

    @hookimpl
    def assay_sandbox_backends(self) -> dict[str, Any]:
        def nobox(workspace: Path, config: SandboxConfig, *, regulated: bool) -> Sandbox:
            raise SandboxUnavailable("nobox needs /dev/nobox; load the nobox module")

        return {"nobox": nobox}


def _faulty() -> AssayPluginManager:
    pm = load_plugins(autoload=False)
    pm.register(Faulty(), name="faulty")
    pm.records["faulty"] = PluginRecord(
        "faulty", "entry-point", "loaded", "faulty:Faulty", distribution="assay-faulty"
    )
    return pm


def test_a_failing_plugin_factory_is_a_plugin_failure_naming_it(tmp_path: Path) -> None:
    pm = _faulty()
    blame = "plugin 'faulty' (distribution assay-faulty): "
    with pytest.raises(PluginFailure) as wrong:
        build_model("liar:m", env={}, plugins=pm)
    assert str(wrong.value) == blame + "model provider 'liar' returned str, not a pydantic_ai Model"
    assert (wrong.value.plugin, wrong.value.distribution) == ("faulty", "assay-faulty")
    with pytest.raises(PluginFailure) as raised:
        make_judge("crashy", None, plugins=pm)
    assert str(raised.value) == blame + "judge 'crashy' raised KeyError: 'samples'"
    assert isinstance(raised.value.__cause__, KeyError)
    # assay's own errors, raised on purpose by the plugin, pass unchanged
    with pytest.raises(SandboxUnavailable, match="nobox needs /dev/nobox"):
        open_sandbox(tmp_path, SandboxConfig(backend="nobox"), plugins=pm)

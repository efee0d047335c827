"""Issue 13, "Show it works": a design whose dependencies the policy refuses goes back to the
architect with the reason, the ledger records the refusal, and the corrected design is locked.

Scripted runs of the real loop (real uv, pip, PyPI and pip-audit; vulnerabilities come from a
local OSV service configured in the project's ``[tool.assay.gates.depaudit]``). The runs stop
after one iteration with the ruff gate only: the design phase is what is under test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

import assay
from assay.config import load_settings
from assay.deps.lock import LOCK_FILE, LOCK_HEADER
from assay.deps.prepare import DependencyGate
from assay.deps.wheelhouse import Wheelhouse
from assay.evidence.bundle import report_plugins, write_bundle
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger, verify_run
from assay.ledger import kinds as k
from assay.ledger.keys import Signer
from assay.messages import Design, PinnedDependency
from tests.conftest import scripted_app
from tests.osv_service import IDNA_VULN, OsvService, osv_service

app = scripted_app()


@dataclass
class Architect:
    """Designs `first`; once a retry comes back, designs `then`. Keeps what each retry said."""

    first: Design
    then: Design
    retries: list[str] = field(default_factory=list)

    def model(self) -> FunctionModel:
        def function(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            # pydantic-ai sends an output validator's ModelRetry back as the output tool's
            # return (or as a retry prompt): either is the architect being told why.
            said = [
                p.model_response() if isinstance(p, RetryPromptPart) else str(p.content)
                for m in messages
                if isinstance(m, ModelRequest)
                for p in m.parts
                if isinstance(p, RetryPromptPart | ToolReturnPart)
            ]
            self.retries = said
            args = (self.then if said else self.first).model_dump(mode="json")
            args.pop("kind")
            call = ToolCallPart(info.output_tools[0].name, args)
            return ModelResponse(parts=[call], model_name="architect")

        return FunctionModel(function, model_name="architect")


def design_with(*deps: tuple[str, str]) -> Design:
    base: Design = app.DESIGN
    return base.model_copy(
        update={"dependencies": [PinnedDependency(name=n, spec=s) for n, s in deps]}
    )


def project_settings(tmp_path: Path, osv_url: str, dependencies: str = "") -> Any:
    """Settings read from a real pyproject.toml, as `assay run` reads them."""
    pyproject = tmp_path / "project" / "pyproject.toml"
    pyproject.parent.mkdir(parents=True, exist_ok=True)
    pyproject.write_text(
        "[tool.assay]\nregulated = true\n\n"
        "[tool.assay.factory]\nmax_iterations = 1\n\n"
        f'[tool.assay.gates.depaudit]\nosv_url = "{osv_url}"\n\n'
        f"[tool.assay.dependencies]\n{dependencies}\n",
        encoding="utf-8",
    )
    return load_settings(pyproject)


@dataclass
class Run:
    run_dir: Path
    architect: Architect

    def events(self, kind: str) -> list[dict[str, Any]]:
        with Ledger.open(self.run_dir, create=False) as ledger:
            return [e.payload for e in ledger.events(kind=kind)]

    def architect_prompts(self) -> list[str]:
        """Every architect request as recorded (the whole conversation sent to the model)."""
        with Ledger.open(self.run_dir, create=False) as ledger:
            return [
                ledger.get_blob(e.payload["prompt_blob"]).decode()
                for e in ledger.events(kind=k.MODEL_REQUEST)
                if e.payload["role"] == "architect"
            ]

    def blob(self, digest: str) -> str:
        with Ledger.open(self.run_dir, create=False) as ledger:
            return ledger.get_blob(digest).decode()


def run_design(run_dir: Path, settings: Any, architect: Architect, wheelhouse: Wheelhouse) -> Run:
    models = app.models()
    team = RoleModels(
        architect=architect.model(), tester=models["tester"], coder=models["coder"],
        reviewer=models["security-reviewer"],
        labels={r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")},
    )  # fmt: skip
    factory = Factory(
        run_dir, spec=app.SPEC, settings=settings, models=team, gates=[RuffGate()],
        signer=Signer.generate(),
        dependencies=DependencyGate(settings, run_dir / "deps", wheelhouse=wheelhouse),
    )  # fmt: skip
    asyncio.run(factory.run())
    return Run(run_dir, architect)


@pytest.fixture(scope="module")
def module_osv() -> Iterator[OsvService]:
    with osv_service() as service:
        yield service


@pytest.fixture(scope="module")
def allow_list_run(
    tmp_path_factory: pytest.TempPathFactory, module_osv: OsvService, wheelhouse: Wheelhouse
) -> Run:
    """Regulated: the architect first asks for requests (not allowed), then for FastAPI."""
    base = tmp_path_factory.mktemp("allow")
    settings = project_settings(base, module_osv.url)
    architect = Architect(design_with(("requests", ">=2")), design_with(("fastapi", ">=0.110")))
    return run_design(base / "runs" / "r1", settings, architect, wheelhouse)


def test_a_name_outside_the_allow_list_is_recorded_as_refused_with_the_reason(
    allow_list_run: Run,
) -> None:
    [refused] = allow_list_run.events(k.DEPENDENCIES_REFUSED)
    assert refused["requested"] == ["requests>=2"]
    [reason] = refused["reasons"]
    assert reason.startswith(
        "requests is not on the dependency allow-list (regulated: only these may be used: "
    )
    assert "fastapi" in reason and "httpx" in reason  # it names what may be used instead


def test_the_architects_next_request_carries_the_refusal(allow_list_run: Run) -> None:
    [retry] = allow_list_run.architect.retries
    assert "The design cannot be used: requests is not on the dependency allow-list" in retry
    first, second = allow_list_run.architect_prompts()
    assert "dependency allow-list" not in first
    assert "requests is not on the dependency allow-list" in second


def test_the_corrected_design_is_accepted_and_its_lock_recorded(allow_list_run: Run) -> None:
    [design] = [
        p["message"] for p in allow_list_run.events(k.MESSAGE) if p["sender"] == "architect"
    ]
    assert design["dependencies"] == [{"name": "fastapi", "spec": ">=0.110"}]
    [locked] = allow_list_run.events(k.DEPENDENCIES_LOCKED)
    assert locked["requested"] == ["fastapi>=0.110"]
    by_name = {c["name"]: c for c in locked["components"]}
    assert {"fastapi", "starlette", "pydantic", "pydantic-core"} <= set(by_name)
    assert by_name["fastapi"]["direct"] and not by_name["starlette"]["direct"]
    assert "fastapi" in by_name["starlette"]["required_by"]
    assert by_name["fastapi"]["licence"] == "MIT"
    for component in locked["components"]:
        assert component["version"] and component["hashes"] and component["licence"], component
    assert locked["vulnerabilities"] == [] and locked["not_audited"] is None
    lock_text = allow_list_run.blob(locked["lock_blob"])
    written = (allow_list_run.run_dir / "workspace" / LOCK_FILE).read_text(encoding="utf-8")
    assert written == LOCK_HEADER + lock_text


def test_every_locked_component_was_audited_against_the_configured_service(
    allow_list_run: Run, module_osv: OsvService
) -> None:
    [locked] = allow_list_run.events(k.DEPENDENCIES_LOCKED)
    asked = set(module_osv.queries)
    assert {(c["name"], c["version"]) for c in locked["components"]} <= asked


def test_the_sbom_of_the_fastapi_run_validates_and_lists_transitive_components_with_hashes(
    allow_list_run: Run, tmp_path: Path
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert verify_run(allow_list_run.run_dir).ok
    run_dir = allow_list_run.run_dir
    bundle = write_bundle(
        run_dir, tmp_path / "bundle", Signer.generate(), plugins=report_plugins(run_dir)
    )
    text = (bundle.path / "sbom.cdx.json").read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    sbom = json.loads(text)
    [locked] = allow_list_run.events(k.DEPENDENCIES_LOCKED)
    components = {c["name"]: c for c in sbom["components"]}
    assert set(components) == {c["name"] for c in locked["components"]}
    for c in locked["components"]:
        listed = components[c["name"]]
        assert listed["version"] == c["version"]
        assert listed["purl"] == f"pkg:pypi/{c['name']}@{c['version']}"
        assert {h["content"] for h in listed["hashes"]} == set(c["hashes"])
        assert {h["alg"] for h in listed["hashes"]} == {"SHA-256"}
        assert listed["licenses"] == [{"expression": c["licence"]}]
    [tool] = sbom["metadata"]["tools"]["components"]
    assert tool["name"] == "assay" and tool["version"] == assay.__version__
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in sbom["dependencies"]}
    root = sbom["metadata"]["component"]["bom-ref"]
    assert graph[root] == {components["fastapi"]["bom-ref"]}
    assert components["starlette"]["bom-ref"] in graph[components["fastapi"]["bom-ref"]]


def test_a_pinned_version_with_a_known_vulnerability_goes_back_with_its_id(
    tmp_path: Path, osv: OsvService, wheelhouse: Wheelhouse
) -> None:
    osv.advise("idna", "3.6", IDNA_VULN)
    settings = project_settings(tmp_path, osv.url)
    architect = Architect(design_with(("idna", "==3.6")), design_with(("idna", ">=3.7")))
    run = run_design(tmp_path / "runs" / "vuln", settings, architect, wheelhouse)
    [refused] = run.events(k.DEPENDENCIES_REFUSED)
    assert refused["requested"] == ["idna==3.6"]
    [reason] = refused["reasons"]
    assert reason.startswith("known vulnerabilities in the locked dependencies: ")
    assert "GHSA-jjg7-2v4v-x38h" in reason and "idna 3.6" in reason and "3.7" in reason
    [retry] = run.architect.retries
    assert "GHSA-jjg7-2v4v-x38h" in retry
    [locked] = run.events(k.DEPENDENCIES_LOCKED)
    [idna] = locked["components"]
    assert idna["name"] == "idna" and idna["version"] != "3.6"
    assert ("idna", "3.6") in osv.queries and ("idna", idna["version"]) in osv.queries


def test_a_licence_outside_the_policy_goes_back_and_a_design_without_it_is_accepted(
    tmp_path: Path, osv: OsvService, wheelhouse: Wheelhouse
) -> None:
    settings = project_settings(tmp_path, osv.url, 'licenses = ["Apache-2.0"]')
    architect = Architect(design_with(("fastapi", "")), design_with())
    run = run_design(tmp_path / "runs" / "licence", settings, architect, wheelhouse)
    [refused] = run.events(k.DEPENDENCIES_REFUSED)
    assert refused["requested"] == ["fastapi"]
    [reason] = refused["reasons"]
    problems = reason.split("; ")
    fastapi = next(p for p in problems if p.startswith("fastapi "))
    assert fastapi.endswith(" is licensed MIT, outside the licence policy (Apache-2.0)")
    assert not any(p.startswith("opentelemetry-api ") for p in problems)  # Apache-2.0: allowed
    [retry] = run.architect.retries
    assert "is licensed MIT, outside the licence policy (Apache-2.0)" in retry
    assert run.events(k.DEPENDENCIES_LOCKED) == []  # no dependencies: nothing to lock
    assert not (run.run_dir / "workspace" / LOCK_FILE).exists()
    assert osv.queries == []  # refused on its licence before any audit

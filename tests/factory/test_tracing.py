"""OpenTelemetry traces of a run (`assay.tracing`): the span tree a scripted run makes, collected
in memory, and a real OTLP/HTTP export by ``assay run --otel-endpoint`` to a local collector."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.models.instrumented import InstrumentationSettings

from assay import tracing
from assay.cli import main
from assay.commands._holdout import ScenarioValidator
from assay.config import FactoryConfig, Settings
from assay.errors import UserError
from assay.evidence.report_html import render_html
from assay.evidence.summary import summarize
from assay.factory import events as ev
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.ledger import kinds as k
from assay.messages import SecurityReview, Spec
from assay.scenarios.loader import load_dir
from assay.testing import scripted
from tests.otlp_collector import Collector, collector

# The health service, its scripted team and its scenario: the holdout test's (loaded by path).
_spec = importlib.util.spec_from_file_location(
    "holdout_service", Path(__file__).parent / "test_holdout_service.py"
)
assert _spec and _spec.loader
holdout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(holdout)


def team() -> dict[str, Model]:
    """``ASSAY_TESTING_MODELS`` target: the health service's scripted roles."""
    return {
        "architect": scripted(lambda _: holdout.DESIGN),
        "tester": scripted(lambda _: holdout.SUITE),
        "coder": scripted(holdout.coder),
        "security-reviewer": scripted(lambda _: SecurityReview(verdict="approve")),
    }


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with tracing.installed(provider):
        yield exporter
    provider.shutdown()


def _named(found: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in found if s.name.startswith(prefix)]


def _parent(s: ReadableSpan) -> int | None:
    return s.parent.span_id if s.parent is not None else None


def _id(s: ReadableSpan) -> int:
    assert s.context is not None
    return int(s.context.span_id)


def _children(found: Sequence[ReadableSpan], of: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in found if _parent(s) == _id(of)]


async def test_a_run_is_one_trace_of_iterations_role_calls_gates_and_scenarios(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "health.yaml").write_text(holdout.SCENARIO)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=20, backend="local"
    )
    m = team()
    labels = {"architect": "test:architect", "tester": "test:tester", "coder": "test:coder",
              "security-reviewer": "test:reviewer"}  # fmt: skip
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels=labels,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=Spec(name="svc", body="# svc\n\nServes health.\n"),
        settings=Settings(factory=FactoryConfig(max_iterations=3)), models=models,
        gates=[RuffGate()], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    assert outcome.outcome == "converged" and outcome.iterations == 2
    found = spans.get_finished_spans()

    # one run span, the root of a single trace, naming the run and how it ended
    [run] = _named(found, "assay run")
    assert run.parent is None and run.attributes is not None
    assert run.attributes["assay.run.id"] == "run" and run.attributes["assay.spec.name"] == "svc"
    assert run.attributes["assay.outcome"] == "converged"
    assert run.attributes["assay.iterations"] == 2
    assert {s.context.trace_id for s in found if s.context} == {run.context.trace_id}

    # the ledger names the trace, so an audit record leads to its trace (and back: the run id)
    with Ledger.open(run_dir, create=False) as ledger:
        [traced] = [
            ev.RunTraced.model_validate(e.payload) for e in ledger.events(kind=k.RUN_TRACED)
        ]
        prompts = [ledger.get_blob(e.payload["prompt_blob"]).decode()
                   for e in ledger.events(kind="model.request")]  # fmt: skip
    assert traced.trace_id == f"{run.context.trace_id:032x}"
    assert traced.span_id == f"{_id(run):016x}"
    with Ledger.open(run_dir, create=False) as ledger:
        report = summarize(list(ledger.events()), run_id="run")
    assert report.traces == [traced.trace_id]  # the report names it too
    assert f"trace <code>{traced.trace_id}</code>" in render_html(report)

    # the design and the tests are written before any iteration; then two iterations
    prepared = {s.name: s for s in _children(found, run) if s.name.startswith("role ")}
    assert set(prepared) == {"role architect", "role tester"}
    iterations = sorted(_named(found, "iteration"), key=lambda s: s.start_time or 0)
    assert [_parent(s) for s in iterations] == [_id(run)] * 2
    assert [(s.attributes or {}).get("assay.iteration") for s in iterations] == [1, 2]
    assert [(s.attributes or {}).get("assay.decision") for s in iterations] == [
        "continue", "converged",
    ]  # fmt: skip

    for it, score in zip(iterations, (0.0, 100.0), strict=True):
        below = {s.name: s for s in _children(found, it)}
        assert {"role coder", "role security-reviewer", "gates", "scenarios"} <= set(below)
        coder = below["role coder"].attributes or {}
        assert coder["assay.role"] == "coder" and coder["assay.model"] == "test:coder"
        assert coder["assay.replayed"] is False
        # pydantic-ai's own spans under the role call: the agent run, then the model request
        [agent] = _children(found, below["role coder"])
        assert (agent.attributes or {})["gen_ai.agent.name"] == "coder"
        chats = [s for s in _children(found, agent) if (s.attributes or {}).get(
            "gen_ai.operation.name") == "chat"]  # fmt: skip
        assert chats
        chat = chats[0].attributes or {}
        assert chat["gen_ai.request.model"] and chat["gen_ai.usage.input_tokens"] > 0  # type: ignore[operator]
        # each gate under the iteration's gates step, with its verdict and finding count
        [ruff] = _children(found, below["gates"])
        assert ruff.name == "gate ruff"
        gate = ruff.attributes or {}
        assert gate["assay.gate.name"] == "ruff" and gate["assay.gate.verdict"] == "passed"
        assert gate["assay.gate.findings"] == 0
        # each held-out scenario under the scenarios step, with its score
        [health] = _children(found, below["scenarios"])
        assert health.name == "scenario health"
        scenario = health.attributes or {}
        assert scenario["assay.scenario.id"] == "health"
        assert scenario["assay.scenario.score"] == score
        assert (below["scenarios"].attributes or {})["assay.satisfaction"] == score

    # prompts stay in the sealed ledger, out of the collector: no held-out text in any span
    assert prompts and not any(holdout.CANARY in str(s.to_json()) for s in found)
    assert not any("Serves health" in str(s.to_json()) for s in found)  # the spec's text either


async def test_a_resume_is_a_trace_of_its_own_that_marks_what_it_read_back(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    m = team()
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=m["coder"],
        reviewer=m["security-reviewer"], labels={},
    )  # fmt: skip

    def factory() -> Factory:
        return Factory(
            tmp_path / "run", spec=Spec(name="svc", body="# svc\n"),
            settings=Settings(factory=FactoryConfig(max_iterations=1)), models=models,
            gates=[RuffGate()],
        )  # fmt: skip

    first = await factory().run()
    spans.clear()
    # a resume of the finished run: one more run span, nothing run again
    again = await factory().run()
    assert again == first
    [run] = _named(spans.get_finished_spans(), "assay run")
    assert (run.attributes or {})["assay.outcome"] == first.outcome
    assert not _named(spans.get_finished_spans(), "role ")


def test_tracing_is_off_without_an_endpoint() -> None:
    assert tracing.endpoint(None, {}) is None
    assert tracing.exporter(None) is None
    with tracing.exporting(None), tracing.span("nothing", {"run.id": "r"}) as span:
        assert span is None
    assert tracing.trace_id(None) is None
    # nothing of the SDK is imported by assay's run path when no endpoint is set
    code = (
        "import sys; from assay import tracing; import assay.factory.loop, assay.commands.run\n"
        "with tracing.exporting(tracing.exporter(tracing.endpoint(None, {}))):\n"
        "    assert tracing.span('x').__enter__() is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')"
        " or m.startswith('opentelemetry.exporter')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={
            "PYTHONPATH": ":".join(sys.path), "PATH": "/usr/bin:/bin",
        },
    )  # fmt: skip
    assert out.stdout.strip() == "[]", out.stderr


def test_the_endpoint_comes_from_the_flag_then_the_environment() -> None:
    base = {tracing.ENDPOINT_ENV: "http://env:4318/"}
    assert tracing.endpoint(None, base) == "http://env:4318/v1/traces"
    assert tracing.endpoint("http://flag:4318", base) == "http://flag:4318/v1/traces"
    assert tracing.endpoint("https://c.example/v1/traces", {}) == "https://c.example/v1/traces"
    both = base | {tracing.TRACES_ENDPOINT_ENV: "http://traces:4318/custom"}
    assert tracing.endpoint(None, both) == "http://traces:4318/custom"  # used as it is
    for bad in ("localhost:4318", "grpc://c:4317", "http://"):
        with pytest.raises(UserError, match="not an OTLP/HTTP endpoint"):
            tracing.endpoint(bad, {})


def test_tracing_is_installed_once_and_undone_after() -> None:
    provider = TracerProvider()
    with tracing.installed(provider):
        settings = Agent._instrument_default
        assert isinstance(settings, InstrumentationSettings) and not settings.include_content
        with pytest.raises(RuntimeError, match="already installed"), tracing.installed(provider):
            pass
    assert Agent._instrument_default is False
    with tracing.span("after") as span:
        assert span is None


@pytest.fixture
def otlp() -> Iterator[Collector]:
    with collector() as c:
        yield c


@pytest.mark.parametrize("via", ["flag", "environment"])
def test_assay_run_exports_its_trace_over_otlp_http(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    otlp: Collector,
    via: str,
) -> None:
    for var in ("ASSAY_MODEL", "ASSAY_JUDGE_MODEL", "ASSAY_JUDGE", tracing.TRACES_ENDPOINT_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:team")
    (tmp_path / ".git").mkdir()  # config lookup stops here
    (tmp_path / "assay.toml").write_text('[factory]\ngates = ["ruff"]\n')
    (tmp_path / "spec.md").write_text("# svc\n\nServes health.\n")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "spec.md", "--max-iterations", "1", "--no-live"]
    if via == "flag":
        monkeypatch.delenv(tracing.ENDPOINT_ENV, raising=False)
        argv += ["--otel-endpoint", otlp.url]
    else:
        monkeypatch.setenv(tracing.ENDPOINT_ENV, otlp.url)
    assert main(argv) == 0  # converged: ruff passes, and no scenarios were given
    (run_dir,) = (tmp_path / "runs").iterdir()

    # the exporter's own requests, flushed before `assay run` returned
    assert {(path, kind) for path, kind, _ in otlp.requests} == {
        ("/v1/traces", "application/x-protobuf")
    }
    exported = otlp.spans()
    assert {e.service for e in exported} == {"assay"}
    [run] = [e for e in exported if e.name == "assay run"]
    assert run.attributes["assay.run.id"] == run_dir.name and run.parent_id == ""
    with Ledger.open(run_dir, create=False) as ledger:
        [traced] = [
            ev.RunTraced.model_validate(e.payload) for e in ledger.events(kind=k.RUN_TRACED)
        ]
    assert (run.trace_id, run.span_id) == (traced.trace_id, traced.span_id)
    assert f"run: traced, trace id {traced.trace_id}" in capsys.readouterr().err
    assert {e.scope for e in exported} == {"assay", "pydantic-ai"}  # role calls came through too
    assert {e.trace_id for e in exported} == {run.trace_id}
    names = {e.name for e in exported}
    assert {"role architect", "role tester", "iteration", "role coder", "gate ruff"} <= names


def test_a_bad_endpoint_stops_assay_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:team")
    (tmp_path / ".git").mkdir()
    (tmp_path / "assay.toml").write_text('[factory]\ngates = ["ruff"]\n')
    (tmp_path / "spec.md").write_text("# svc\n\nServes health.\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "spec.md", "--otel-endpoint", "localhost:4318", "--no-live"]) == 2
    assert (
        "--otel-endpoint: 'localhost:4318' is not an OTLP/HTTP endpoint" in capsys.readouterr().err
    )
    assert not (tmp_path / "runs").exists()  # nothing half-made


def test_an_unreachable_collector_costs_the_run_only_its_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:team")
    monkeypatch.delenv(tracing.TRACES_ENDPOINT_ENV, raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "assay.toml").write_text('[factory]\ngates = ["ruff"]\n')
    (tmp_path / "spec.md").write_text("# svc\n\nServes health.\n")
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{closed}"
    argv = ["run", "spec.md", "--max-iterations", "1", "--no-live", "--otel-endpoint", url]
    assert main(argv) == 0  # converged all the same
    err = capsys.readouterr().err
    assert err.count(f"warning: traces not sent to {url}/v1/traces") == 1
    assert "Traceback" not in err

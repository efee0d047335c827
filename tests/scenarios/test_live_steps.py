"""ws and browser steps for real: OctopusGarden's auction-house (WebSocket) and kanban-board
(browser) scenarios, unchanged, against reference services; mutants fail a chosen step."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.judge import Judge
from assay.scenarios.browser import chromium_path
from assay.scenarios.loader import load_dir, load_file
from assay.scenarios.results import ScenarioStatus, StepStatus, ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner
from tests.conftest import require_or_skip

COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"
Starter = Callable[..., Any]


def _reading_judge(prompts: list[str]) -> FunctionModel:
    """A judge that reads what it is shown: 0 when a WebSocket receive got no message or a
    broadcast lacks the amount the expectation names, else 100. It records every prompt."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = str(messages)
        prompts.append(prompt)
        bad = "received 0 messages" in prompt or (
            "bid event with amount 75" in prompt and '"amount": 75' not in prompt
        )
        score = 0.0 if bad else 100.0
        args = {"score": score, "reasoning": "read", "failures": ["no broadcast"] if bad else []}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(answer, model_name="reading-judge")


async def _run(
    reference: Starter, folder: str, service: str, mutant: str = "", judge: Judge | None = None
) -> ValidationReport:
    scenarios = load_dir(COMPAT / folder / "scenarios").scenarios
    async with reference(service, mutant) as svc:
        options = RunOptions(target=svc.url, judge=judge, diagnose=svc.diagnose)
        return await ScenarioRunner(options).run(scenarios)


def _steps(report: ValidationReport, kind_where: str) -> list[Any]:
    return [s for sc in report.scenarios for s in sc.steps if s.action.startswith(kind_where)]


# -- WebSocket -----------------------------------------------------------------------------


async def test_auction_house_passes_and_the_judge_reads_the_broadcast(reference: Starter) -> None:
    prompts: list[str] = []
    report = await _run(
        reference, "auction-house", "auction_house", judge=Judge(_reading_judge(prompts))
    )
    assert report.passed, report.summary
    ws = _steps(report, "ws ")
    assert [s.action for s in ws] == ["ws default connect /ws/auctions/{}".format(
        ws[0].action.rsplit("/", 1)[1]
    ), "ws default receive 1"]  # fmt: skip
    assert all(s.status is StepStatus.JUDGED and s.score == 100 for s in ws)
    receive = next(p for p in prompts if "bid event with amount 75" in p)
    assert "received 1 messages" in receive and '{"event": "bid", "amount": 75' in receive


async def test_a_service_that_never_broadcasts_fails_the_receive_step(reference: Starter) -> None:
    prompts: list[str] = []
    report = await _run(
        reference, "auction-house", "auction_house", "no-broadcast", Judge(_reading_judge(prompts))
    )
    by_id = {sc.id: sc for sc in report.scenarios}
    broadcast = by_id["websocket-bid-broadcast"]
    assert broadcast.status is ScenarioStatus.FAILED and not report.passed
    receive = broadcast.steps[2]
    assert receive.score == 0 and receive.observed.startswith("WebSocket [default]: received 0")
    assert by_id["create-auction"].status is ScenarioStatus.PASSED  # HTTP is unaffected


async def test_a_refused_websocket_is_a_step_error_without_the_judge(reference: Starter) -> None:
    report = await _run(reference, "auction-house", "auction_house", "ws-refused")
    broadcast = next(sc for sc in report.scenarios if sc.id == "websocket-bid-broadcast")
    connect, _, receive = broadcast.steps
    assert connect.status is StepStatus.ERROR and connect.decided_without_model
    assert "cannot connect to /ws/auctions/" in connect.message and "404" in connect.message
    assert receive.status is StepStatus.ERROR and "'default' is not open" in receive.message
    assert broadcast.score == 0 and "02-websocket-bid-broadcast.yaml:20" in broadcast.message


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ws.yaml"
    path.write_text(text, encoding="utf-8")
    return path


WS_CHECKED = """\
id: ws-checked
setup:
  - request: {method: POST, path: /auctions, body: {item: Lamp, starting_price: 1}}
    capture: [{name: auction_id, jsonpath: $.id}]
steps:
  - description: two subscribers
    ws: {url: "/ws/auctions/{auction_id}", id: first}
    expect: Status 101.
  - description: the second
    ws: {url: "/ws/auctions/{auction_id}", id: second}
    assert: {json: [{path: $, equals: null}]}
  - description: bid twice
    request: {method: POST, path: "/auctions/{auction_id}/bid", body: {amount: 5}}
    assert: {status: 200}
  - description: again
    request: {method: POST, path: "/auctions/{auction_id}/bid", body: {amount: 9}}
    assert: {status: 200}
  - description: the first gets both, as a JSON array
    ws: {id: first, receive: {count: 2, timeout: 5s}}
    assert: {json: [{path: "$[*].event", equals: bid}, {path: "$[1].amount", equals: 9}]}
  - description: the second gets the first one alone
    ws: {id: second, receive: {timeout: 5s}}
    assert: {json: [{path: $.amount, equals: 5}, {path: $.bids, equals: 1}]}
    capture: [{name: bids, jsonpath: $.bids}]
  - description: then the second one, kept since it arrived
    ws: {id: second, receive: {count: 1}}
    assert: {json: [{path: $.amount, equals: 9}]}
  - description: nothing more comes
    ws: {id: second, receive: {count: 1, timeout: 200ms}}
    assert: {body_contains: "[]"}
"""


async def test_ws_observations_feed_the_deterministic_checks(
    reference: Starter, tmp_path: Path
) -> None:
    loaded = load_file(_write(tmp_path, WS_CHECKED))
    assert loaded.errors == [], loaded.problems
    async with reference("auction_house") as svc:
        report = await ScenarioRunner(RunOptions(target=svc.url)).run(loaded.scenarios)
    (sc,) = report.scenarios
    statuses = [s.status for s in sc.steps]
    # "Status 101." reads as a status check, and a WebSocket observation has no HTTP status
    assert statuses[0] is StepStatus.FAILED and "got status None" in sc.steps[0].message
    assert statuses[1:] == [StepStatus.PASSED] * 7, [s.message for s in sc.steps][1:]
    assert all(s.decided_without_model for s in sc.steps[1:])
    assert "received 0 messages (waited 0.2s for 1)" in sc.steps[7].observed


class _UnixTransport(httpx.AsyncHTTPTransport):
    """What a sandboxed service's transport looks like: HTTP over a Unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__(uds=path)
        self.socket_path = path


@contextlib.asynccontextmanager
async def _unix_front(port: int, path: Path) -> AsyncIterator[str]:
    """A Unix socket in front of a TCP service, as the sandbox's forwarder provides."""

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    server = await asyncio.start_unix_server(handle, path=str(path))
    try:
        yield str(path)
    finally:
        server.close()


async def test_ws_steps_reach_a_service_behind_a_unix_socket(
    reference: Starter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket path is at most 107 bytes, and CI's deep TMPDIR is longer: bind it relative.
    monkeypatch.chdir(tmp_path)
    scenarios = load_dir(COMPAT / "auction-house" / "scenarios").scenarios
    async with reference("auction_house") as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        async with _unix_front(port, Path("s.sock")) as sock:
            options = RunOptions(
                target="http://sandbox", transport=_UnixTransport(sock),
                judge=Judge(_reading_judge([])),
            )  # fmt: skip
            report = await ScenarioRunner(options).run(scenarios)
    assert report.passed, report.summary
    assert len(_steps(report, "ws ")) == 2


# -- grpc and tui --------------------------------------------------------------------------


async def test_grpc_and_tui_steps_are_unjudged_and_lint_says_why(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text(
        "id: other\nsteps:\n"
        "  - description: call\n    grpc: {service: a.B, method: C}\n    expect: It answers.\n"
        "  - description: screen\n    tui: {command: top}\n    expect: It shows.\n",
        encoding="utf-8",
    )
    loaded = load_file(path)
    notes = {p.message for p in loaded.problems if p.rule == "AS020"}
    assert len(notes) == 2
    assert all("unjudged" in n and "cannot pass" in n for n in notes)
    assert any("assay does not run grpc steps" in n and ".proto" in n for n in notes)
    report = await ScenarioRunner(RunOptions()).run(loaded.scenarios)
    (sc,) = report.scenarios
    assert [s.status for s in sc.steps] == [StepStatus.UNJUDGED] * 2
    assert sc.status is ScenarioStatus.UNJUDGED and not report.passed
    assert "does not run grpc steps" in sc.steps[0].message


# -- browser -------------------------------------------------------------------------------


def _need_chromium() -> None:
    has_playwright = importlib.util.find_spec("playwright") is not None
    require_or_skip(has_playwright, "Playwright is missing (pip install -e '.[browser]')")
    path = chromium_path()
    require_or_skip(path is not None and Path(path).is_file(), "Chromium is not installed")


def _always(score: float) -> FunctionModel:
    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        args = {"score": score, "reasoning": "scripted", "failures": []}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(answer, model_name="scripted-judge")


@pytest.mark.browser
async def test_kanban_board_runs_in_chromium(reference: Starter) -> None:
    _need_chromium()
    report = await _run(reference, "kanban-board", "kanban_board", judge=Judge(_always(100)))
    browser = _steps(report, "browser ")
    assert len(browser) == 25
    assert all(s.status is StepStatus.JUDGED and s.score == 100 for s in browser), [
        (s.where, s.message) for s in browser if s.score != 100
    ]
    checks = [c for s in browser for c in s.checks]
    assert len(checks) == 11 and all(c.passed for c in checks)
    assert any(c.check == "3 element(s) match [data-column]" for c in checks)
    assert any(
        c.check == "text of [data-column='todo'] does not contain 'Deploy to prod'" for c in checks
    )
    api = next(sc for sc in report.scenarios if sc.id == "api-reflects-ui")
    assert api.status is ScenarioStatus.PASSED  # the card the browser created is in the API
    assert report.passed, report.summary


@pytest.mark.browser
@pytest.mark.parametrize(
    ("mutant", "scenario", "where", "expected"),
    [
        (
            "move-broken", "move-card", "move-card.yaml:30",
            "text of [data-column='todo'] does not contain 'Deploy to prod', its text was",
        ),
        (
            "delete-broken", "delete-card-ui", "delete-card-ui.yaml:30",
            "0 element(s) match [data-card-id='{card_id}'], 1 element(s) matched",
        ),
    ],
)  # fmt: skip
async def test_a_broken_board_fails_the_browser_assert(
    reference: Starter, mutant: str, scenario: str, where: str, expected: str
) -> None:
    _need_chromium()
    report = await _run(reference, "kanban-board", "kanban_board", mutant, Judge(_always(100)))
    by_id = {sc.id: sc for sc in report.scenarios}
    failed = by_id[scenario]
    assert failed.status is ScenarioStatus.FAILED and failed.score == 0
    assert where in failed.message and expected in failed.message
    step = next(s for s in failed.steps if s.where.endswith(where))
    assert step.status is StepStatus.FAILED and step.judge is None
    assert by_id["navigate-home"].status is ScenarioStatus.PASSED
    assert not report.passed


@pytest.mark.browser
async def test_browser_steps_reach_a_service_behind_a_unix_socket(
    reference: Starter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket path is at most 107 bytes, and CI's deep TMPDIR is longer: bind it relative.
    monkeypatch.chdir(tmp_path)
    _need_chromium()
    scenarios = load_dir(COMPAT / "kanban-board" / "scenarios" / "move-card.yaml").scenarios
    async with reference("kanban_board") as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        async with _unix_front(port, Path("s.sock")) as sock:
            options = RunOptions(
                target="http://sandbox", transport=_UnixTransport(sock), judge=Judge(_always(100))
            )
            report = await ScenarioRunner(options).run(scenarios)
    (sc,) = report.scenarios
    assert sc.status is ScenarioStatus.PASSED, sc.message
    assert sc.setup[0].status is StepStatus.PASSED  # the API call went over the socket
    assert len([c for s in sc.steps for c in s.checks if c.passed]) == 3

"""Recorded real conversations replayed over HTTP through the real CLI, gates and sandbox.

The fixtures under tests/replays/ were recorded with ../shared/tools/llm-bridge.py while a model
was played by hand (see docs/run.md, "Replaying recorded conversations"). The server tests below
speak to `ReplayServer` over real HTTP with httpx; the end-to-end test runs `assay run` in a
subprocess whose only model endpoint is the replay on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assay.sandbox.bwrap import bwrap_problem
from assay.sandbox.docker import docker_problem
from assay.testing.replay import (
    REPLAY_KEY,
    ReplayRun,
    ReplayServer,
    Turn,
    import_bridge,
    load_conversation,
    main,
    replay_env,
    replay_run,
    request_kind,
)
from tests.conftest import REPO, require_or_skip

REPLAYS = REPO / "tests" / "replays"


def _request(
    role: str,
    *,
    model: str = "gen",
    tools: tuple[str, ...] = ("final_result",),
    prompt: str = "build it",
) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": f"{role}\n\nMore instructions."},
            {"role": "user", "content": prompt},
        ],
        "tools": [{"type": "function", "function": {"name": t, "parameters": {}}} for t in tools],
        "tool_choice": "required",
    }


def _raw(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()


def _turn(n: int, request: dict[str, Any], answer: dict[str, Any]) -> Turn:
    return Turn(
        model=request["model"],
        n=n,
        kind=request_kind(request),
        request_hash=f"sha256:{hashlib.sha256(_raw(request)).hexdigest()}",
        usage={"prompt_tokens": 10 * n, "completion_tokens": n, "total_tokens": 11 * n},
        answer=answer,
    )


ARCHITECT = _request("You are the architect.")
CODER = _request("You are the coder.", tools=("list_files", "final_result"))
JUDGE = _request("You are the judge.", model="judge", prompt="expectation A")
DESIGN = {"calls": [{"name": "final_result", "arguments": {"summary": "s", "package": "p"}}]}
CHANGES = {"calls": [{"name": "final_result", "arguments": {"files": []}}]}
VERDICT = {"text": '{"score": 90}'}


@pytest.fixture
def replay() -> Iterator[tuple[ReplayServer, httpx.Client]]:
    server = ReplayServer(
        [_turn(1, ARCHITECT, DESIGN), _turn(1, JUDGE, VERDICT), _turn(2, CODER, CHANGES)]
    )
    with server.running() as url, httpx.Client(base_url=url, timeout=10) as client:
        yield server, client


def _post(client: httpx.Client, request: dict[str, Any]) -> httpx.Response:
    return client.post(
        "/chat/completions", content=_raw(request), headers={"Content-Type": "application/json"}
    )


def test_each_model_name_gets_its_own_answers_in_order(
    replay: tuple[ReplayServer, httpx.Client],
) -> None:
    server, client = replay
    judged = _post(client, JUDGE).json()
    designed = _post(client, ARCHITECT).json()
    coded = _post(
        client,
        _request(
            "You are the coder.",
            tools=("final_result", "list_files"),
            prompt="iteration 1, reworded",
        ),
    ).json()
    assert judged["choices"][0]["message"]["content"] == '{"score": 90}'
    assert judged["choices"][0]["finish_reason"] == "stop"
    call = designed["choices"][0]["message"]["tool_calls"][0]["function"]
    assert (call["name"], json.loads(call["arguments"])) == (
        "final_result",
        {"summary": "s", "package": "p"},
    )
    assert designed["usage"] == {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
    assert coded["choices"][0]["finish_reason"] == "tool_calls"
    assert server.mismatches == [] and server.unserved() == []
    assert server.served_counts() == {"gen": 2, "judge": 1}
    assert server.drifted == ["gen req-2"]  # same kind, other words: served, and reported


def test_a_retry_gets_the_same_answer_without_using_a_slot(
    replay: tuple[ReplayServer, httpx.Client],
) -> None:
    server, client = replay
    first = _post(client, ARCHITECT).json()
    again = _post(client, ARCHITECT).json()
    assert first["choices"] == again["choices"]
    assert server.unserved() == ["gen req-2", "judge req-1"]
    assert _post(client, CODER).status_code == 200
    assert server.mismatches == []


def test_a_request_of_another_kind_fails_naming_the_index(
    replay: tuple[ReplayServer, httpx.Client],
) -> None:
    server, client = replay
    answered = _post(client, _request("You are the tester."))
    assert answered.status_code == 400
    assert "gen request #1" in answered.json()["error"]["message"]
    assert server.mismatches == [
        "gen request #1 is {'role': 'You are the tester.', 'tools': ['final_result']}, but the "
        "recording's gen req-1 was {'role': 'You are the architect.', 'tools': ['final_result']}"
    ]


def test_a_request_beyond_the_recording_fails_naming_the_index(
    replay: tuple[ReplayServer, httpx.Client],
) -> None:
    server, client = replay
    assert _post(client, JUDGE).status_code == 200
    extra = _post(
        client,
        {
            **JUDGE,
            "messages": [*JUDGE["messages"][:1], {"role": "user", "content": "expectation B"}],
        },
    )
    assert extra.status_code == 400
    assert server.mismatches == [
        "judge request #2 ('You are the judge.'): the recording holds only 1 judge answer(s)"
    ]
    unknown = _post(client, _request("You are the architect.", model="strong"))
    assert unknown.status_code == 400
    assert "model 'strong'" in server.mismatches[-1]


def test_identical_concurrent_requests_take_their_recorded_slot_out_of_order() -> None:
    second = _request("You are the judge.", model="judge", prompt="expectation B")
    server = ReplayServer([_turn(1, JUDGE, VERDICT), _turn(2, second, {"text": "B"})])
    with server.running() as url, httpx.Client(base_url=url, timeout=10) as client:
        assert _post(client, second).json()["choices"][0]["message"]["content"] == "B"
        assert _post(client, JUDGE).json()["choices"][0]["message"]["content"] == '{"score": 90}'
    assert server.drifted == [] and server.mismatches == []


def test_a_recorded_error_is_replayed_as_that_status() -> None:
    server = ReplayServer([_turn(1, ARCHITECT, {"error": "503"})])
    with server.running() as url, httpx.Client(base_url=url, timeout=10) as client:
        assert _post(client, ARCHITECT).status_code == 503
        assert client.get("/models").json()["data"] == [{"id": "gen", "object": "model"}]


def _bridge(folder: Path, model: str, n: int, request: dict[str, Any], answer: Any) -> None:
    """One slot as llm-bridge.py files it: index.json (sha of the raw body), req-N, resp-N."""
    box = folder / model
    box.mkdir(parents=True, exist_ok=True)
    index_file = box / "index.json"
    index = json.loads(index_file.read_text()) if index_file.exists() else {}
    index[hashlib.sha256(_raw(request)).hexdigest()] = n
    index_file.write_text(json.dumps(index))
    (box / f"req-{n}.json").write_text(json.dumps(request, indent=1))
    if answer is not None:
        (box / f"resp-{n}.json").write_text(json.dumps(answer))


def test_import_keeps_answers_hashes_and_usage_and_drops_unanswered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bridge = tmp_path / "bridge"
    _bridge(bridge, "gen", 1, ARCHITECT, DESIGN)
    _bridge(bridge, "judge", 1, JUDGE, VERDICT)
    _bridge(bridge, "gen", 2, CODER, None)  # the run stopped while this one waited
    assert main(["import", str(bridge), str(tmp_path / "fixture")]) == 0
    assert "2 turn(s) (gen 1, judge 1)" in capsys.readouterr().out
    turns = load_conversation(tmp_path / "fixture")
    assert [(t.model, t.n) for t in turns] == [("gen", 1), ("judge", 1)]
    architect = turns[0]
    assert architect.answer == DESIGN
    assert architect.kind == {"role": "You are the architect.", "tools": ["final_result"]}
    assert architect.request_hash == f"sha256:{hashlib.sha256(_raw(ARCHITECT)).hexdigest()}"
    # llm-bridge.py's own estimate: 4 characters a token of the messages and of the reply
    assert architect.usage["prompt_tokens"] == len(json.dumps(ARCHITECT["messages"])) // 4
    text = (tmp_path / "fixture" / "conversation.jsonl").read_text()
    assert len(text.splitlines()) == 2 and '"summary": "s"' in text  # readable, one turn a line
    assert main(["show", str(tmp_path / "fixture")]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0] == "turn\trole\ttokens in\ttokens out\tanswer"
    tokens = architect.usage
    assert shown[1] == (
        f"gen req-1\tYou are the architect.\t{tokens['prompt_tokens']}\t"
        f"{tokens['completion_tokens']}\tfinal_result"
    )
    assert shown[2].startswith("judge req-1\tYou are the judge.\t") and shown[2].endswith("chars")


def test_import_of_a_folder_without_answers_says_so(tmp_path: Path) -> None:
    _bridge(tmp_path / "bridge", "gen", 1, ARCHITECT, None)
    with pytest.raises(ValueError, match="no answered request"):
        import_bridge(tmp_path / "bridge", tmp_path / "fixture")


def test_the_subprocess_env_holds_no_provider_but_the_replay(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "<a real key>")
    monkeypatch.setenv("OPENAI_API_KEY", "<a real key>")
    monkeypatch.setenv("ASSAY_CODER_MODEL", "anthropic:claude")
    env = replay_env("http://127.0.0.1:1/v1", home=tmp_path)
    assert env["OPENAI_API_KEY"] == REPLAY_KEY
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:1/v1"
    assert (env["ASSAY_MODEL"], env["ASSAY_JUDGE_MODEL"]) == ("openai:gen", "openai:judge")
    assert not {"ANTHROPIC_API_KEY", "ASSAY_CODER_MODEL"} & env.keys()


# -- recorded conversations, end to end --------------------------------------------------------


def _replay_hello_api(
    tmp_path: Path, conversation: Path | list[Turn], *, backend: str = "bwrap"
) -> ReplayRun:
    config = REPLAYS / "hello-api" / "assay.toml"  # the recorded run's: bwrap
    env = {}
    if backend == "docker":
        require_or_skip(docker_problem() is None, f"docker: {docker_problem()}")
        config = tmp_path / "assay.toml"
        config.write_text('[sandbox]\nbackend = "docker"\n')
        env = {k: v for k, v in os.environ.items() if k == "DOCKER_HOST"}
    else:
        require_or_skip(bwrap_problem() is None, f"bwrap: {bwrap_problem()}")
    return replay_run(
        conversation,
        REPO / "specs" / "hello-api.md",
        scenarios=REPO / "scenarios" / "hello-api",
        runs_dir=tmp_path / "runs",
        args=["--config", str(config), "--max-iterations", "3"],
        cwd=tmp_path,
        env=env,
    )


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_loop_asking_more_than_the_recording_fails_loudly(tmp_path: Path) -> None:
    turns = load_conversation(REPLAYS / "hello-api")[:3]  # architect, tester, coder
    run = _replay_hello_api(tmp_path, turns)
    assert run.exit_code != 0
    assert run.mismatches[0].startswith("gen request #4 ('You are the security reviewer")
    with pytest.raises(AssertionError, match=r"gen request #4"):
        run.check()

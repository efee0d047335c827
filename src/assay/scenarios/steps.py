"""Perform one step once: an HTTP request through httpx, a command through an `Executor`, a
WebSocket exchange (`assay.scenarios.ws`) or a browser action (`assay.scenarios.browser`)."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from assay.scenarios.browser import BrowserError, BrowserSession, Chromium
from assay.scenarios.checks import compiled_jsonpath
from assay.scenarios.executor import Executor
from assay.scenarios.model import Capture, RequestSpec, Step
from assay.scenarios.observation import NOT_JSON, Observation
from assay.scenarios.substitute import UndefinedVariable, render, substitute, substitute_text
from assay.scenarios.ws import WsError, WsSession

__all__ = [
    "BODY_LIMIT",
    "CREDENTIAL_HEADERS",
    "NOT_RUN",
    "Live",
    "StepError",
    "capture_value",
    "perform",
]

NOT_RUN = frozenset({"grpc", "tui"})
"""Step kinds that load but do not run: such a step is reported unjudged."""

BODY_LIMIT = 10 * 1024 * 1024
"""Response bodies are read up to 10 MB; a larger one fails the step."""

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
"""Request headers the judge sees as the scenario wrote them (``Bearer {api_key}``), never with
the credential filled in: a credential is not the judge's business, is not sent to its provider,
and changes from one iteration to the next."""
_SENT_BODY_LIMIT = 4000
_SECRET_NAME = re.compile(r"(?i)token|secret|passw|api_?key|auth|credential")


class StepError(Exception):
    """The step could not be performed; the message says why and where."""


@dataclass
class Live:
    """A scenario's open connections: its WebSockets and its browser page, and where the service
    answers over TCP (`base_url`: the target, or a relay to the sandbox's socket)."""

    base_url: str | None
    chromium: Chromium
    ws: WsSession = field(default_factory=WsSession)
    browser: BrowserSession = field(init=False)

    def __post_init__(self) -> None:
        self.browser = BrowserSession(self.chromium)

    async def close(self) -> None:
        """Close the scenario's connections and its page (the run's Chromium stays)."""
        await self.ws.close()
        await self.browser.close()


async def _request(
    step: Step,
    variables: Mapping[str, Any],
    client: httpx.AsyncClient | None,
    timeout: float,
    diagnose: Callable[[], str] | None,
) -> Observation:
    req = step.request
    assert req is not None
    if client is None:
        raise StepError("request steps need a service: give --target URL or --code DIR --start CMD")
    where = step.where
    path = substitute_text(req.path, variables, where)
    if not path.startswith("/") or path.startswith("//"):
        # httpx would send an absolute URL to its own host, not to the service under test
        raise StepError(f"request path {path!r} is not relative to the target (must start with /)")
    headers = {k: substitute_text(v, variables, where) for k, v in req.headers.items()}
    params = {k: render(substitute(v, variables, where)) for k, v in req.query.items()}
    content = _encode_body(req, variables, where, headers)
    action = f"{req.method} {path}"
    sent = _sent_request(action, params, headers, req.headers, content)
    start = time.perf_counter()
    try:
        # httpx's timeout bounds each connect, read and write; a target trickling one byte a
        # second never trips it. The whole exchange, body included, must end within `timeout`.
        async with asyncio.timeout(timeout):
            async with client.stream(
                req.method, path, params=params or None, headers=headers, content=content,
                timeout=timeout,
            ) as resp:  # fmt: skip
                body = await _read_limited(resp, action)
    except TimeoutError:
        raise StepError(f"{action}: no complete answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise _transport_error(exc, action, client, timeout, diagnose) from None
    return Observation(
        kind="request",
        action=action,
        status=resp.status_code,
        headers={k.lower(): v for k, v in resp.headers.items()},
        body=body.decode(resp.encoding or "utf-8", "replace"),
        latency_ms=(time.perf_counter() - start) * 1000,
        sent=sent,
    )


def _cut(text: str) -> str:
    return text if len(text) <= _SENT_BODY_LIMIT else text[:_SENT_BODY_LIMIT] + "\n[... truncated]"


def _sent_request(
    action: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    templates: Mapping[str, str],
    content: bytes | None,
) -> str:
    """The request as sent (query, headers, body), credentials as the scenario wrote them."""
    line = f"{action}?{httpx.QueryParams(dict(params))}" if params else action
    lines = [line]
    for name, value in headers.items():
        shown = templates.get(name, "(set)") if name.lower() in CREDENTIAL_HEADERS else value
        lines.append(f"{name.lower()}: {shown}")
    if content is None:
        return "\n".join([*lines, "", "(no body)"])
    return "\n".join([*lines, "", _cut(content.decode("utf-8", "replace"))])


def _sent_command(
    command: str, env: Mapping[str, str], templates: Mapping[str, str], stdin: bytes | None
) -> str:
    """The command as run, its environment (secret-looking variables as the scenario wrote
    them) and its stdin."""
    lines = [f"$ {command}"]
    for name, value in sorted(env.items()):
        lines.append(f"env {name}={templates[name] if _SECRET_NAME.search(name) else value}")
    if stdin:
        lines.append(f"--- stdin ---\n{_cut(stdin.decode('utf-8', 'replace'))}")
    return "\n".join(lines)


def _encode_body(
    req: RequestSpec, variables: Mapping[str, Any], where: str, headers: dict[str, str]
) -> bytes | None:
    """The request body as bytes; a JSON body sets Content-Type unless the step gave one."""
    if not req.has_body:
        return None
    body = substitute(req.body, variables, where)
    if isinstance(body, str):
        return body.encode()
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(body).encode()


async def _read_limited(resp: httpx.Response, action: str) -> bytes:
    """The response body, or `StepError` once it grows past `BODY_LIMIT`."""
    chunks, size = [], 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > BODY_LIMIT:
            raise StepError(f"{action}: response body exceeds {BODY_LIMIT // 2**20} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(
    exc: httpx.HTTPError,
    action: str,
    client: httpx.AsyncClient,
    timeout: float,
    diagnose: Callable[[], str] | None,
) -> StepError:
    """The `StepError` that explains an httpx failure (with the service's diagnosis if any)."""
    if isinstance(exc, httpx.TimeoutException):
        return StepError(f"{action}: no answer within {timeout:g}s")
    extra = f"; {diagnose()}" if diagnose else ""
    if isinstance(exc, httpx.ConnectError):
        return StepError(f"{action}: cannot connect to {client.base_url}: {exc}{extra}")
    return StepError(f"{action}: {type(exc).__name__}: {exc}{extra}")


async def _exec(step: Step, variables: Mapping[str, Any], executor: Executor) -> Observation:
    spec = step.exec_
    assert spec is not None
    where = step.where
    command = substitute_text(spec.command, variables, where)
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise StepError(f"cannot parse command `{command}`: {exc}") from None
    env = {k: substitute_text(v, variables, where) for k, v in spec.env.items()}
    stdin = substitute_text(spec.stdin, variables, where).encode() if spec.stdin else None
    result = await executor.run(argv, env=env, stdin=stdin, timeout=spec.timeout)
    if result.timed_out:
        raise StepError(f"`{command}` did not finish within {spec.timeout:g}s")
    return Observation(
        kind="exec",
        action=command,
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code,
        latency_ms=result.duration_s * 1000,
        sent=_sent_command(command, env, spec.env, stdin),
    )


async def perform(
    step: Step,
    variables: Mapping[str, Any],
    *,
    client: httpx.AsyncClient | None,
    executor: Executor,
    timeout: float,
    diagnose: Callable[[], str] | None = None,
    live: Live | None = None,
) -> Observation:
    """Run `step` once; raise `StepError` with a clear message when it cannot run."""
    try:
        if step.kind == "request":
            return await _request(step, variables, client, step.timeout or timeout, diagnose)
        if step.kind == "exec":
            return await _exec(step, variables, executor)
        if step.kind in ("ws", "browser"):
            if live is None:
                raise StepError(f"{step.kind} steps need the scenario runner's connections")
            if step.kind == "ws":
                return await live.ws.run(step, variables, live.base_url, step.timeout or timeout)
            return await live.browser.run(step, variables, live.base_url)
    except UndefinedVariable as exc:
        raise StepError(str(exc)) from None
    except (WsError, BrowserError) as exc:
        extra = f"; {diagnose()}" if diagnose and "connect" in str(exc) else ""
        raise StepError(f"{exc}{extra}") from None
    raise StepError(f"assay does not run {step.kind} steps")


def capture_value(cap: Capture, obs: Observation) -> Any:
    """The value `cap` takes from `obs`; raise `StepError` when it is not there."""
    if cap.jsonpath is not None:
        data = obs.json()
        if data is NOT_JSON:
            raise StepError(f"capture {cap.name}: the response is not JSON")
        found = [m.value for m in compiled_jsonpath(cap.jsonpath).find(data)]
        if not found:
            raise StepError(f"capture {cap.name}: {cap.jsonpath} not found in the response")
        return found[0]
    source = cap.source
    if source == "status":
        return obs.status
    if source == "exitcode":
        return obs.exit_code
    if source in ("text", "html", "count", "location", "value"):
        if source not in obs.sources:
            raise StepError(f"capture {cap.name}: this browser action gives no {source}")
        return obs.sources[source]
    if source == "header":
        name = (cap.header or "").lower()
        if name not in obs.headers:
            raise StepError(f"capture {cap.name}: no {cap.header!r} header in the response")
        return obs.headers[name]
    if source in ("body", "stdout", "stderr"):
        return obs.text(source).rstrip("\n")
    raise StepError(f"capture {cap.name}: nothing to capture from")

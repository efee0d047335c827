"""The scenario linter: OctopusGarden's rules (SCxxx) plus assay's own (ASxxx).

It walks the ruamel.yaml tree, so every problem has a line and column, and builds the
`Scenario` at the same time. MUST rules are errors, SHOULD rules are warnings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath
from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from assay.scenarios.durations import parse_duration
from assay.scenarios.model import STEP_KINDS, Assertions, Scenario, Step
from assay.scenarios.problems import Problem, ProblemSeverity
from assay.scenarios.substitute import references

__all__ = ["FileLinter", "plain"]

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_IDENT = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DOT_PATH = re.compile(r"^\$(\.[^.\s\[\]*]+)+$")
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_SOURCES = {
    "request": {"body", "header", "status"},
    "exec": {"stdout", "stderr", "exitcode"},
    "browser": {"text", "html", "count", "location", "value"},
}
"""Capture sources per step kind; ws steps capture with ``jsonpath`` only, as in OctopusGarden."""
_SCENARIO_KEYS = {
    "id", "description", "type", "weight", "tier", "setup", "steps", "satisfaction_criteria",
}  # fmt: skip
_STEP_KEYS = {
    *STEP_KINDS, "description", "capture", "expect", "assert", "retry", "delay", "timeout",
}  # fmt: skip
_REQUEST_KEYS = {"method", "path", "headers", "query", "body"}
_EXEC_KEYS = {"command", "stdin", "env", "timeout"}
_WS_KEYS = {"url", "id", "send", "receive"}
_WS_RECEIVE_KEYS = {"timeout", "count"}
_BROWSER_KEYS = {"action", "url", "selector", "value", "text", "text_absent", "count", "timeout"}
_BROWSER_ACTIONS = ("navigate", "click", "fill", "assert")
_BROWSER_NEEDS = {
    "navigate": [("url", "SC043")],
    "click": [("selector", "SC044")],
    "fill": [("selector", "SC045"), ("value", "SC046")],
    "assert": [("selector", "SC047")],
}
_NOT_RUN = {
    "grpc": "gRPC calls would need the service's protobuf descriptors (server reflection or "
    "the .proto files) and a gRPC client",
    "tui": "a terminal UI would need a pseudo-terminal and a screen emulator to read it",
}
"""Step kinds assay loads but does not run, and what running them would take."""


def plain(node: Any) -> Any:
    """A ruamel.yaml node as plain dicts, lists and scalars."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)


class FileLinter:
    """Lint one parsed scenario file and build its `Scenario` when there is no error."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._captured: set[str] = set()

    # -- reporting -------------------------------------------------------------------------

    def _at(self, pos: tuple[int, int], rule: str, sev: ProblemSeverity, msg: str) -> None:
        self.problems.append(Problem(rule, sev, self.file, pos[0] + 1, pos[1] + 1, msg))

    @staticmethod
    def _key_pos(node: CommentedMap, key: str) -> tuple[int, int]:
        line, col = node.lc.key(key)
        return int(line), int(col)

    @staticmethod
    def _val_pos(node: CommentedMap, key: str) -> tuple[int, int]:
        line, col = node.lc.value(key)
        return int(line), int(col)

    @staticmethod
    def _pos(node: Any) -> tuple[int, int]:
        lc = getattr(node, "lc", None)
        return (int(lc.line), int(lc.col)) if lc is not None else (0, 0)

    @staticmethod
    def _item_pos(seq: CommentedSeq, i: int) -> tuple[int, int]:
        line, col = seq.lc.item(i)
        return int(line), int(col)

    @property
    def has_errors(self) -> bool:
        """True when any error (not warning) was found."""
        return any(p.severity == "error" for p in self.problems)

    # -- scenario --------------------------------------------------------------------------

    def lint(self, root: Any) -> Scenario | None:
        """Check the whole document; return the scenario when no error was found."""
        if not isinstance(root, CommentedMap):
            self._at(self._pos(root), "SC004", "error", "scenario root must be a YAML mapping")
            return None
        self._unknown_keys(root, _SCENARIO_KEYS, "scenario")
        self._id(root)
        if "type" in root and root["type"] not in ("functional", "api"):
            self._at(
                self._val_pos(root, "type"),
                "SC008",
                "warning",
                f"type {root['type']!r} is not one of the recognized values: functional, api",
            )
        self._weight(root)
        setup: list[Step] = []
        if "setup" in root:
            if not isinstance(root["setup"], CommentedSeq):
                self._at(self._val_pos(root, "setup"), "SC013", "error", "setup must be an array")
            else:
                setup = self._steps(root["setup"], judged=False)
        steps: list[Step] = []
        if "steps" not in root:
            self._at((0, 0), "SC011", "error", "steps field is required")
        elif not isinstance(root["steps"], CommentedSeq) or not root["steps"]:
            self._at(
                self._val_pos(root, "steps"), "SC012", "error", "steps must be a non-empty array"
            )
        else:
            steps = self._steps(root["steps"], judged=True)
        if self.has_errors:
            return None
        data = {k: plain(root[k]) for k in _SCENARIO_KEYS - {"setup", "steps"} if k in root}
        try:
            return Scenario.model_validate(
                {**data, "setup": setup, "steps": steps, "file": self.file, "line": 1}
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            key = str(err["loc"][0])
            pos = self._val_pos(root, key) if key in root else (0, 0)
            self._at(pos, "AS002", "error", f"{key}: {err['msg']}")
            return None

    def _unknown_keys(self, node: CommentedMap, known: set[str], what: str) -> None:
        for key in node:
            if key not in known:
                self._at(
                    self._key_pos(node, key),
                    "AS001",
                    "warning",
                    f"unknown {what} key {key!r} is ignored; known: {', '.join(sorted(known))}",
                )

    def _id(self, root: CommentedMap) -> None:
        if "id" not in root:
            self._at((0, 0), "SC005", "error", "id field is required")
            return
        value = root["id"]
        pos = self._val_pos(root, "id")
        if value is None or (isinstance(value, str) and not value.strip()):
            self._at(pos, "SC006", "error", "id must not be empty")
        elif not isinstance(value, str) or not _ID.match(value):
            self._at(
                pos,
                "SC007",
                "error",
                f"id {value!r} must be lowercase alphanumeric with hyphens/underscores "
                "(^[a-z0-9][a-z0-9_-]*$)",
            )

    def _weight(self, root: CommentedMap) -> None:
        if "weight" not in root:
            return
        w = root["weight"]
        pos = self._val_pos(root, "weight")
        if isinstance(w, bool) or not isinstance(w, int | float):
            self._at(pos, "SC009", "warning", f"weight must be a number, got {w!r}")
        elif w <= 0:
            self._at(pos, "SC010", "warning", f"weight must be positive, got {w}")

    # -- steps -----------------------------------------------------------------------------

    def _steps(self, seq: CommentedSeq, *, judged: bool) -> list[Step]:
        out: list[Step] = []
        for i, node in enumerate(seq):
            pos = self._item_pos(seq, i)
            if not isinstance(node, CommentedMap):
                self._at(pos, "SC014", "error", "each step must be a YAML mapping")
                continue
            step = self._step(node, pos, judged=judged)
            if step is not None:
                out.append(step)
        return out

    def _step(self, node: CommentedMap, pos: tuple[int, int], *, judged: bool) -> Step | None:
        kind = self._step_kind(node, pos)
        if kind is None:
            return None
        self._unknown_keys(node, _STEP_KEYS, "step")
        if judged:
            self._judged_hints(node, pos)
        data: dict[str, Any] = {"kind": kind, "file": self.file, "line": pos[0] + 1}
        data.update(self._step_body(node, kind))
        if self.has_errors:
            return None
        return Step.model_validate(data)

    def _step_kind(self, node: CommentedMap, pos: tuple[int, int]) -> str | None:
        """The step's one type key, or None (with a finding) when there is none or several."""
        kinds = [k for k in STEP_KINDS if k in node]
        if not kinds:
            others = ", ".join(repr(str(k)) for k in node) or "none"
            self._at(
                pos,
                "SC015",
                "error",
                "step must have exactly one step type (request, exec, browser, grpc, ws, or tui); "
                f"found keys: {others}",
            )
            return None
        if len(kinds) > 1:
            self._at(
                pos, "SC032", "error", f"step must not have multiple step types: {', '.join(kinds)}"
            )
            return None
        return kinds[0]

    def _judged_hints(self, node: CommentedMap, pos: tuple[int, int]) -> None:
        """Warn when a judged step lacks the description or expectation the judge needs."""
        if not node.get("description"):
            self._at(pos, "SC017", "warning", "judged steps should have a description")
        if not node.get("expect") and "assert" not in node:
            self._at(
                pos, "SC016", "warning", "judged steps should have an expect (or assert) field"
            )

    def _step_body(self, node: CommentedMap, kind: str) -> dict[str, Any]:
        """The step's fields other than its kind and location, each checked."""
        data: dict[str, Any] = {}
        if kind == "request":
            data["request"] = self._request(node)
        elif kind == "exec":
            data["exec"] = self._exec(node)
        elif kind == "ws":
            data["ws"] = self._ws(node)
        elif kind == "browser":
            data["browser"] = self._browser(node)
        else:
            self._other_kind(node, kind)
        self._variables(node, kind)
        data["capture"] = self._captures(node, kind)
        for key in ("description", "expect"):
            if key in node and node[key] is not None:
                data[key] = str(node[key])
        data["assertions"] = self._assertions(node)
        data["retry"] = self._retry(node)
        for key in ("delay", "timeout"):
            if key in node:
                data[key] = self._duration(node, key, "AS004")
        return data

    def _duration(self, node: CommentedMap, key: str, rule: str) -> float:
        try:
            return parse_duration(node[key])
        except ValueError as exc:
            self._at(self._val_pos(node, key), rule, "error", f"{key}: {exc}")
            return 0.0

    def _request(self, step: CommentedMap) -> dict[str, Any] | None:
        req = step["request"]
        if not isinstance(req, CommentedMap):
            self._at(
                self._val_pos(step, "request"), "SC018", "error", "request must be a YAML mapping"
            )
            return None
        pos = self._val_pos(step, "request")
        self._unknown_keys(req, _REQUEST_KEYS, "request")
        method = req.get("method")
        if not method:
            self._at(pos, "SC019", "error", "request must have a method")
        elif str(method).upper() not in _METHODS:
            self._at(
                self._val_pos(req, "method"),
                "SC020",
                "error",
                f"HTTP method {method!r} is not valid; allowed: {', '.join(sorted(_METHODS))}",
            )
        path = req.get("path")
        if not path:
            self._at(pos, "SC021", "error", "request must have a path")
        elif isinstance(path, str) and (not path.startswith(("/", "{")) or path.startswith("//")):
            self._at(
                self._val_pos(req, "path"), "AS031", "error",
                f"request path {path!r} must be relative to the target (start with /): an "
                "absolute URL would ignore --target and score another server",
            )  # fmt: skip
        for key in ("headers", "query"):
            if key in req and not isinstance(req[key], CommentedMap):
                self._at(
                    self._val_pos(req, key), "AS003", "error", f"request {key} must be a mapping"
                )
        out = plain(req)
        if "method" in out:
            out["method"] = str(out["method"]).upper()
        out["headers"] = {k: str(v) for k, v in (out.get("headers") or {}).items()}
        out["has_body"] = "body" in req
        return dict(out)

    def _exec(self, step: CommentedMap) -> dict[str, Any] | None:
        ex = step["exec"]
        pos = self._val_pos(step, "exec")
        if not isinstance(ex, CommentedMap):
            self._at(pos, "SC033", "error", "exec must be a YAML mapping")
            return None
        self._unknown_keys(ex, _EXEC_KEYS, "exec")
        if "command" not in ex:
            self._at(pos, "SC034", "error", "exec must have a command field")
        elif not str(ex["command"] or "").strip():
            self._at(
                self._val_pos(ex, "command"), "SC035", "error", "exec command must not be empty"
            )
        if "env" in ex and not isinstance(ex["env"], CommentedMap):
            self._at(self._val_pos(ex, "env"), "SC036", "error", "exec env must be a YAML mapping")
        out = plain(ex)
        if "timeout" in ex:
            out["timeout"] = self._duration(ex, "timeout", "SC037")
        out["env"] = {k: str(v) for k, v in (out.get("env") or {}).items()}
        if out.get("command") is not None:
            out["command"] = str(out["command"])
        return dict(out)

    def _relative_url(self, body: CommentedMap, kind: str) -> None:
        url = body.get("url")
        if (
            isinstance(url, str)
            and url
            and (not url.startswith(("/", "{")) or url.startswith("//"))
        ):
            self._at(
                self._val_pos(body, "url"), "AS032", "error",
                f"{kind} url {url!r} must be a path on the target (start with /): an absolute "
                "URL would ignore --target and test another server",
            )  # fmt: skip

    def _ws(self, step: CommentedMap) -> dict[str, Any] | None:
        body = step["ws"]
        pos = self._val_pos(step, "ws")
        if not isinstance(body, CommentedMap):
            self._at(pos, "SC060", "error", "ws must be a YAML mapping")
            return None
        self._unknown_keys(body, _WS_KEYS, "ws")
        if not body.get("url"):
            self._at(
                pos, "SC061", "warning",
                "ws step missing url; a connection must have been opened by an earlier step",
            )  # fmt: skip
        self._relative_url(body, "ws")
        out: dict[str, Any] = {k: str(body[k]) for k in ("url", "id") if body.get(k) is not None}
        send = plain(body.get("send"))
        if isinstance(send, dict | list):
            out["send"] = json.dumps(send)  # assay: a mapping is sent as its JSON text
        elif send is not None:
            out["send"] = str(send)
        if "receive" in body and body["receive"] is not None:
            out["receive"] = self._ws_receive(body)
        return out

    def _ws_receive(self, body: CommentedMap) -> dict[str, Any] | None:
        recv = body["receive"]
        if not isinstance(recv, CommentedMap):
            self._at(
                self._val_pos(body, "receive"), "AS034", "error",
                "ws receive must be a mapping (timeout, count)",
            )  # fmt: skip
            return None
        self._unknown_keys(recv, _WS_RECEIVE_KEYS, "ws receive")
        out: dict[str, Any] = {}
        if "timeout" in recv:
            out["timeout"] = self._duration(recv, "timeout", "SC062")
        if "count" in recv:
            count = recv["count"]
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                self._at(
                    self._val_pos(recv, "count"), "SC063", "error",
                    f"ws receive count must be a positive integer, got {count!r}",
                )  # fmt: skip
            else:
                out["count"] = int(count)
        return out

    def _browser(self, step: CommentedMap) -> dict[str, Any] | None:
        body = step["browser"]
        pos = self._val_pos(step, "browser")
        if not isinstance(body, CommentedMap):
            self._at(pos, "SC040", "error", "browser must be a YAML mapping")
            return None
        self._unknown_keys(body, _BROWSER_KEYS, "browser")
        action = body.get("action")
        if "action" not in body:
            self._at(pos, "SC041", "error", "browser must have an action field")
            return None
        if action not in _BROWSER_ACTIONS:
            self._at(
                self._val_pos(body, "action"), "SC042", "error",
                f"browser action {action!r} must be navigate, click, fill, or assert",
            )  # fmt: skip
            return None
        for key, rule in _BROWSER_NEEDS[str(action)]:
            if body.get(key) in (None, ""):
                self._at(pos, rule, "error", f"browser {action} requires {key}")
        if action == "assert" and not any(k in body for k in ("text", "text_absent", "count")):
            self._at(
                pos, "SC048", "warning",
                "browser assert should have assertion fields (text, text_absent, or count)",
            )  # fmt: skip
        self._relative_url(body, "browser")
        out: dict[str, Any] = {
            k: str(body[k])
            for k in ("action", "url", "selector", "value", "text", "text_absent")
            if body.get(k) is not None
        }
        if "count" in body:
            count = body["count"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                self._at(
                    self._val_pos(body, "count"), "AS033", "error",
                    f"browser count must be a non-negative integer, got {count!r}",
                )  # fmt: skip
            else:
                out["count"] = int(count)
        if "timeout" in body:
            out["timeout"] = self._duration(body, "timeout", "SC049")
        return out

    def _other_kind(self, step: CommentedMap, kind: str) -> None:
        """grpc and tui: checked as OctopusGarden does, then reported as not run."""
        mapping_rule = {"grpc": "SC050", "tui": "SC070"}[kind]
        body = step[kind]
        pos = self._val_pos(step, kind)
        if not isinstance(body, CommentedMap):
            self._at(pos, mapping_rule, "error", f"{kind} must be a YAML mapping")
            return
        required = {"grpc": [("service", "SC051"), ("method", "SC052")]}.get(kind, [])
        for key, rule in required:
            if key not in body:
                self._at(pos, rule, "error", f"{kind} {key} is required")
        timeout_rule = {"grpc": "SC053", "tui": "SC073"}[kind]
        if "timeout" in body:
            self._duration(body, "timeout", timeout_rule)
        self._at(
            pos,
            "AS020",
            "warning",
            f"assay does not run {kind} steps: this step will be reported unjudged and its "
            f"scenario cannot pass ({_NOT_RUN[kind]}); request, exec, ws and browser steps run",
        )

    def _variables(self, step: CommentedMap, kind: str) -> None:
        if kind not in ("request", "exec", "ws", "browser"):
            return
        if not isinstance(step[kind], CommentedMap):
            return
        for name in references(plain(step[kind])):
            if name not in self._captured:
                self._at(
                    self._val_pos(step, kind),
                    "SC030",
                    "warning",
                    f"variable {{{name}}} has no matching capture in an earlier step",
                )

    def _captures(self, step: CommentedMap, kind: str) -> list[dict[str, Any]]:
        if "capture" not in step:
            return []
        seq = step["capture"]
        if not isinstance(seq, CommentedSeq):
            self._at(self._val_pos(step, "capture"), "SC022", "error", "capture must be an array")
            return []
        out = []
        for i, cap in enumerate(seq):
            pos = self._item_pos(seq, i)
            if not isinstance(cap, CommentedMap):
                self._at(pos, "SC023", "error", "capture entries must be YAML mappings")
                continue
            if self._capture(cap, pos, kind):
                out.append(plain(cap))
        return out

    def _capture(self, cap: CommentedMap, pos: tuple[int, int], kind: str) -> bool:
        ok = True
        name = cap.get("name")
        if "name" not in cap:
            self._at(pos, "SC024", "error", "capture must have a name field")
            ok = False
        elif not name:
            self._at(pos, "SC025", "error", "capture name must not be empty")
            ok = False
        elif not _IDENT.match(str(name)):
            self._at(pos, "SC026", "error", f"capture name {name!r} must be a valid identifier")
            ok = False
        elif name in self._captured:
            self._at(pos, "SC027", "warning", f"capture {name!r} shadows an earlier capture")
        if ok:
            self._captured.add(str(name))
        if "jsonpath" not in cap and "source" not in cap:
            self._at(pos, "SC028", "error", "capture must have jsonpath or source")
            return False
        if "jsonpath" in cap and not _DOT_PATH.match(str(cap["jsonpath"])):
            self._at(
                self._val_pos(cap, "jsonpath"),
                "SC029",
                "error",
                f"jsonpath {cap['jsonpath']!r} must use $.field.sub syntax",
            )
            ok = False
        if "source" in cap:
            allowed = _SOURCES.get(kind)
            if allowed is None:
                self._at(pos, "SC039", "error", f"source is not supported on {kind} steps")
                ok = False
            elif cap["source"] not in allowed:
                self._at(
                    self._val_pos(cap, "source"),
                    "SC038",
                    "error",
                    f"capture source {cap['source']!r} is invalid for a {kind} step; "
                    f"use one of {', '.join(sorted(allowed))}",
                )
                ok = False
        return ok

    def _assertions(self, step: CommentedMap) -> Assertions | None:
        if "assert" not in step:
            return None
        node = step["assert"]
        pos = self._val_pos(step, "assert")
        try:
            block = Assertions.model_validate(plain(node))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            self._at(pos, "AS010", "error", f"invalid assert block: {where}: {err['msg']}")
            return None
        for pattern in (
            block.stdout_matches,
            block.stderr_matches,
            *(j.matches for j in block.json_),
        ):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    self._at(
                        pos, "AS011", "error", f"invalid regular expression {pattern!r}: {exc}"
                    )
        for j in block.json_:
            try:
                parse_jsonpath(j.path)
            except (JsonPathParserError, Exception) as exc:  # jsonpath-ng raises several types
                self._at(pos, "AS012", "error", f"invalid JSONPath {j.path!r}: {exc}")
        if block.schema_ is not None:
            import jsonschema  # slow to import; only when a schema is used

            try:
                jsonschema.validators.validator_for(block.schema_).check_schema(block.schema_)
            except jsonschema.SchemaError as exc:
                self._at(pos, "AS013", "error", f"invalid JSON Schema: {exc.message}")
        return block

    def _retry(self, step: CommentedMap) -> dict[str, Any] | None:
        if "retry" not in step:
            return None
        node = step["retry"]
        pos = self._val_pos(step, "retry")
        if not isinstance(node, CommentedMap):
            self._at(pos, "AS005", "error", "retry must be a mapping with attempts and interval")
            return None
        attempts = node.get("attempts", 1)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            self._at(
                pos, "AS005", "error", f"retry attempts must be a positive integer: {attempts!r}"
            )
            return None
        interval = self._duration(node, "interval", "AS004") if "interval" in node else 1.0
        return {"attempts": attempts, "interval": interval}

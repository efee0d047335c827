"""Deterministic checks: each looks at an `Observation` and passes or fails, no model involved.

They come from a step's structured ``assert`` block (`from_assertions`) or from the parts of a
natural-language ``expect`` that `assay.scenarios.expect` can read exactly.
"""

from __future__ import annotations

import abc
import datetime as dt
import functools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jsonpath_ng.ext.parser import parse as parse_jsonpath

from assay.scenarios.model import Assertions, BrowserSpec
from assay.scenarios.observation import NOT_JSON, Observation

__all__ = [
    "Check",
    "ElementCheck",
    "ExitCodeCheck",
    "HeaderCheck",
    "JsonCheck",
    "LatencyCheck",
    "Outcome",
    "SchemaCheck",
    "StatusCheck",
    "TextCheck",
    "browser_checks",
    "compiled_jsonpath",
    "from_assertions",
    "json_path",
]


@dataclass(frozen=True, slots=True)
class Outcome:
    """A check's verdict and what was actually seen."""

    check: str
    passed: bool
    detail: str = ""


def json_path(*fields: str) -> str:
    """A JSONPath for nested field names, quoting names that need it."""
    out = "$"
    for f in fields:
        out += f".{f}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", f) else f"['{f}']"
    return out


@functools.lru_cache(maxsize=512)
def compiled_jsonpath(path: str) -> Any:
    """A parsed JSONPath, cached."""
    return parse_jsonpath(path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


class Check(abc.ABC):
    """Base of every deterministic check."""

    description: str

    @abc.abstractmethod
    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        """Decide on `obs`; `history` holds the scenario's earlier observations, oldest first."""

    def _out(self, passed: bool, detail: str = "") -> Outcome:
        return Outcome(self.description, passed, "" if passed else detail)


@dataclass(frozen=True)
class StatusCheck(Check):
    """The HTTP status is one of `codes`."""

    codes: tuple[int, ...]

    @property
    def description(self) -> str:  # type: ignore[override]
        return "status " + " or ".join(str(c) for c in self.codes)

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        return self._out(obs.status in self.codes, f"got status {obs.status}")


@dataclass(frozen=True)
class ExitCodeCheck(Check):
    """The command's exit code."""

    code: int

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"exit code {self.code}"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        return self._out(obs.exit_code == self.code, f"got exit code {obs.exit_code}")


@dataclass(frozen=True)
class HeaderCheck(Check):
    """A response header is present and contains `contains`."""

    name: str
    contains: str

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"header {self.name} contains {self.contains!r}"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        value = obs.headers.get(self.name.lower())
        if value is None:
            return self._out(False, f"no {self.name} header")
        return self._out(self.contains in value, f"{self.name}: {value}")


@dataclass(frozen=True)
class LatencyCheck(Check):
    """The step answered within `max_ms` milliseconds."""

    max_ms: float

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"latency <= {self.max_ms:g} ms"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        return self._out(obs.latency_ms <= self.max_ms, f"took {obs.latency_ms:.0f} ms")


@dataclass(frozen=True)
class TextCheck(Check):
    """A check on the body, stdout or stderr as text."""

    stream: Literal["body", "stdout", "stderr"]
    op: Literal["contains", "icontains", "matches", "empty", "max_lines", "min_lines"]
    expected: Any = None

    @property
    def description(self) -> str:  # type: ignore[override]
        if self.op == "empty":
            return f"{self.stream} is empty"
        return f"{self.stream} {self.op.replace('_', ' ')} {self.expected!r}"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        text = obs.text(self.stream)
        lines = len(text.splitlines())
        ok = {
            "contains": lambda: str(self.expected) in text,
            "icontains": lambda: str(self.expected).lower() in text.lower(),
            "matches": lambda: re.search(str(self.expected), text, re.MULTILINE) is not None,
            "empty": lambda: not text.strip(),
            "max_lines": lambda: lines <= int(self.expected),
            "min_lines": lambda: lines >= int(self.expected),
        }[self.op]()
        shown = f"{lines} lines" if self.op.endswith("_lines") else _short(text)
        return self._out(ok, f"{self.stream} was {shown}")


@dataclass(frozen=True)
class ElementCheck(Check):
    """A browser assert's field: the first match's text holds (or lacks) a string, or so many
    elements match the selector."""

    selector: str
    op: Literal["text", "text_absent", "count"]
    expected: str | int

    @property
    def description(self) -> str:  # type: ignore[override]
        if self.op == "count":
            return f"{self.expected} element(s) match {self.selector}"
        verb = "contains" if self.op == "text" else "does not contain"
        return f"text of {self.selector} {verb} {self.expected!r}"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        count = obs.sources.get("count", "")
        text = obs.sources.get("text", "")
        if self.op == "count":
            return self._out(count == str(self.expected), f"{count or 'no'} element(s) matched")
        if count == "0":
            return self._out(self.op == "text_absent", "no element matched")
        found = str(self.expected) in text
        return self._out(found == (self.op == "text"), f"its text was {_short(text)}")


def browser_checks(spec: BrowserSpec) -> list[Check]:
    """The checks a browser ``assert`` asks for (text, text_absent, count), in that order."""
    if spec.action != "assert":
        return []
    checks: list[Check] = []
    if spec.text:
        checks.append(ElementCheck(spec.selector, "text", spec.text))
    if spec.text_absent:
        checks.append(ElementCheck(spec.selector, "text_absent", spec.text_absent))
    if spec.count is not None:
        checks.append(ElementCheck(spec.selector, "count", spec.count))
    return checks


@dataclass(frozen=True)
class SchemaCheck(Check):
    """The JSON body satisfies a JSON Schema."""

    schema: Any
    description: str = "body matches the JSON Schema"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        import jsonschema  # slow to import; only when a schema is used

        data = obs.json()
        if data is NOT_JSON:
            return self._out(False, "body is not JSON")
        validator = jsonschema.validators.validator_for(self.schema)(self.schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is None:
            return self._out(True)
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return self._out(False, f"at {where}: {error.message}")


JsonOp = Literal[
    "equals", "contains", "not_contains", "matches", "type", "exists", "absent", "length",
    "min_length", "max_length", "min", "max", "each_has", "iso_timestamp", "uuid", "same_as_before",
]  # fmt: skip

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _contains(value: Any, item: Any) -> bool:
    if isinstance(value, str):
        return str(item) in value
    if isinstance(value, list):
        return any(_json_equal(v, item) for v in value)
    if isinstance(value, dict):
        return item in value
    return False


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 10:
        return False
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, list | str | dict) else None


def _matches(value: Any, pattern: Any) -> bool:
    text = value if isinstance(value, str) else repr(value)
    return bool(re.search(str(pattern), text))


def _size_test(compare: Callable[[int, Any], bool]) -> Callable[[Any, Any], bool]:
    """A test that applies `compare` to the value's length (list, string or object)."""

    def test(value: Any, expected: Any) -> bool:
        size = _size(value)
        return size is not None and compare(size, expected)

    return test


def _number_test(compare: Callable[[float, Any], bool]) -> Callable[[Any, Any], bool]:
    """A test that applies `compare` to the value when it is a number (not a bool)."""

    def test(value: Any, expected: Any) -> bool:
        num = _number(value)
        return num is not None and compare(num, expected)

    return test


def _each_has(value: Any, fields: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, dict) and all(f in v for f in fields) for v in value
    )


_VALUE_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": _json_equal,
    "contains": _contains,
    "not_contains": lambda v, e: not _contains(v, e),
    "matches": _matches,
    "type": lambda v, e: _TYPES[str(e)](v),
    "length": _size_test(lambda n, e: bool(n == e)),
    "min_length": _size_test(lambda n, e: bool(n >= e)),
    "max_length": _size_test(lambda n, e: bool(n <= e)),
    "min": _number_test(lambda n, e: bool(n >= e)),
    "max": _number_test(lambda n, e: bool(n <= e)),
    "each_has": _each_has,
    "iso_timestamp": lambda v, _: _is_iso(v),
    "uuid": lambda v, _: _is_uuid(v),
}
"""How each value-level JSON op tests one selected value against the expected one."""


@dataclass(frozen=True)
class JsonCheck(Check):
    """A check on the value(s) a JSONPath selects; every selected value must pass."""

    path: str
    op: JsonOp
    expected: Any = None

    @property
    def description(self) -> str:  # type: ignore[override]
        words = {
            "exists": "exists",
            "absent": "is absent",
            "iso_timestamp": "is an ISO 8601 timestamp",
            "uuid": "is a UUID",
            "same_as_before": "is the same as in the previous response",
        }
        if self.op in words:
            return f"{self.path} {words[self.op]}"
        return f"{self.path} {self.op.replace('_', ' ')} {self.expected!r}"

    def evaluate(self, obs: Observation, history: Sequence[Observation]) -> Outcome:
        data = obs.json()
        if data is NOT_JSON:
            return self._out(False, "body is not JSON")
        values = [m.value for m in compiled_jsonpath(self.path).find(data)]
        if self.op == "exists":
            return self._out(bool(values), f"{self.path} is missing")
        if self.op == "absent":
            return self._out(not values, f"{self.path} is present: {_short(values[:1])}")
        if not values:
            return self._out(False, f"{self.path} is missing")
        if self.op == "same_as_before":
            return self._same_as_before(values[0], history)
        for value in values:
            ok = self._test(value)
            if not ok:
                return self._out(False, f"{self.path} was {_short(value)}")
        return self._out(True)

    def _test(self, value: Any) -> bool:
        test = _VALUE_TESTS.get(self.op)
        if test is None:
            raise AssertionError(f"unhandled op {self.op}")
        return test(value, self.expected)

    def _same_as_before(self, value: Any, history: Sequence[Observation]) -> Outcome:
        for earlier in reversed(history):
            data = earlier.json()
            if data is NOT_JSON:
                continue
            found = [m.value for m in compiled_jsonpath(self.path).find(data)]
            if found:
                return self._out(
                    _json_equal(found[0], value), f"was {_short(value)}, before {_short(found[0])}"
                )
        return self._out(False, f"no earlier response had {self.path}")


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def from_assertions(block: Assertions) -> list[Check]:
    """The checks a structured ``assert`` block asks for, in a stable order."""
    checks: list[Check] = []
    if block.status is not None:
        codes = (block.status,) if isinstance(block.status, int) else tuple(block.status)
        checks.append(StatusCheck(codes))
    if block.exit_code is not None:
        checks.append(ExitCodeCheck(block.exit_code))
    checks += [HeaderCheck(k, v) for k, v in block.headers.items()]
    for j in block.json_:
        for op in sorted(j.model_fields_set - {"path"}):
            checks.append(JsonCheck(j.path, op, getattr(j, op)))  # type: ignore[arg-type]
    if block.schema_ is not None:
        checks.append(SchemaCheck(block.schema_))
    checks += [TextCheck("body", "contains", s) for s in _as_list(block.body_contains)]
    checks += [TextCheck("stdout", "contains", s) for s in _as_list(block.stdout_contains)]
    checks += [TextCheck("stderr", "contains", s) for s in _as_list(block.stderr_contains)]
    if block.stdout_matches is not None:
        checks.append(TextCheck("stdout", "matches", block.stdout_matches))
    if block.stderr_matches is not None:
        checks.append(TextCheck("stderr", "matches", block.stderr_matches))
    if block.max_latency_ms is not None:
        checks.append(LatencyCheck(block.max_latency_ms))
    return checks

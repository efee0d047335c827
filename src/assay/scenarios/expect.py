"""Read the exactly-checkable parts of a natural-language ``expect``.

OctopusGarden sends every expectation to an LLM. Most of them are, sentence by sentence, plain
facts: "Status 404.", "Exit code 0.", "Response has 'items' array with exactly 2 items." This
module turns each sentence it can read *completely* into deterministic checks; a sentence it
cannot read in full is left, verbatim, for the judge. Nothing is guessed: an unread sentence is
never dropped, so the judge still sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from assay.scenarios.checks import (
    Check,
    ExitCodeCheck,
    JsonCheck,
    StatusCheck,
    TextCheck,
    json_path,
)

__all__ = ["CompiledExpectation", "compile_expectation", "split_sentences"]

_Q = r"'([^']*)'"
_VALUE = r"('[^']*'|true|false|null|-?\d+(?:\.\d+)?)"
_FIELD = r"'?([A-Za-z_][A-Za-z0-9_]*)'?"


@dataclass
class CompiledExpectation:
    """The checks read from an expectation, and the sentences left for the judge."""

    checks: list[Check] = field(default_factory=list)
    remainder: list[str] = field(default_factory=list)

    @property
    def deterministic(self) -> bool:
        """True when every sentence was read: no model is needed for this expectation."""
        return not self.remainder


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, ignoring full stops inside quotes and numbers."""
    out, buf, quoted = [], [], False
    for i, ch in enumerate(text):
        if ch == "'" and (i == 0 or not text[i - 1].isalnum() or quoted):
            quoted = not quoted
        buf.append(ch)
        if ch == "." and not quoted and (i + 1 == len(text) or text[i + 1].isspace()):
            out.append("".join(buf).strip())
            buf = []
    if "".join(buf).strip():
        out.append("".join(buf).strip())
    return [s for s in out if s]


def _value(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"  # noqa: S105  # nosec B105
    if token == "null":  # noqa: S105  # nosec B105
        return None
    return float(token) if "." in token else int(token)


def _field(word: str) -> str:
    """A field named at the start of a sentence loses its capital ("Value is" -> value)."""
    return word[0].lower() + word[1:] if word[1:].islower() or len(word) == 1 else word


def _split_items(clause: str) -> list[str]:
    """Split "a, b, and c" / "a and b" outside quotes and parentheses."""
    parts, buf, quoted, depth = [], "", False, 0
    i = 0
    while i < len(clause):
        ch = clause[i]
        if ch == "'" and (i == 0 or not clause[i - 1].isalnum() or quoted):
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted:
            depth -= 1
        if not quoted and depth == 0:
            m = re.match(r",\s*(?:and\s+)?|\s+and\s+", clause[i:])
            if m:
                parts.append(buf.strip())
                buf = ""
                i += m.end()
                continue
        buf += ch
        i += 1
    parts.append(buf.strip())
    return [p for p in parts if p]


def _fields_list(text: str) -> list[str] | None:
    names = [n.strip("'") for n in _split_items(text)]
    ok = all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names)
    return names if names and ok else None


def _object_with(obj: str, pairs_text: str) -> list[Check] | None:
    """``NAME that is a JSON object with a=1, b='x'``: its type and each pair's value."""
    pairs = [re.fullmatch(r"(\w+)=" + _VALUE, p) for p in _split_items(pairs_text)]
    if not all(pairs):
        return None
    checks: list[Check] = [JsonCheck(obj, "type", "object")]
    return checks + [
        JsonCheck(f"{obj}.{p.group(1)}", "equals", _value(p.group(2))) for p in pairs if p
    ]


class _Reader:
    """Reads one expectation; remembers the last array named, for "Each todo ..." sentences."""

    def __init__(self) -> None:
        self.last_array: str | None = None

    def sentence(self, s: str) -> list[Check] | None:
        s = s.rstrip(".").strip()
        if m := re.fullmatch(r"(?i)status(?: code)? (\d{3})", s):
            return [StatusCheck((int(m.group(1)),))]
        if m := re.fullmatch(r"(?i)exit code (\d+)", s):
            return [ExitCodeCheck(int(m.group(1)))]
        if re.fullmatch(r"(?i)(?:the )?response body (?:should be|is) empty(?: or absent)?", s):
            return [TextCheck("body", "empty")]
        if m := re.fullmatch(r"(?i)(?:the )?'?(\w+)'? should remain the same", s):
            return [JsonCheck(json_path(m.group(1)), "same_as_before")]
        if m := re.fullmatch(r"(?i)(?:the )?'([A-Za-z_]\w*)' field should be " + _VALUE, s):
            return [JsonCheck(json_path(m.group(1)), "equals", _value(m.group(2)))]
        if m := re.fullmatch(r"(?i)(?:each |all )?(\w+?)s? should have (.+) fields", s):
            return self._each_has(m.group(1), m.group(2))
        if m := re.fullmatch(r"([A-Za-z_]\w*) (?:is|are) (.+)", s):
            return self._is(_field(m.group(1)), m.group(2))
        if m := re.fullmatch(r"'?(\w+)'? array is empty or does not contain " + _Q, s):
            path = json_path(_field(m.group(1)))
            return [JsonCheck(path, "type", "array"), JsonCheck(path, "not_contains", m.group(2))]
        if m := re.fullmatch(r"(?i)output contains (?:the (?:name|text|word) )?" + _Q, s):
            return [TextCheck("stdout", "contains", m.group(1))]
        if m := re.fullmatch(
            r"(?i)output contains (?:the (?:name|text|word) )?"
            + _Q
            + r" and mentions "
            + _Q
            + r"(?: somewhere in the (?:text|output))?",
            s,
        ):
            return [
                TextCheck("stdout", "contains", m.group(1)),
                TextCheck("stdout", "icontains", m.group(2)),
            ]
        if m := re.fullmatch(r"(?i)(?:the )?response(?: body)? (?:contains|has) (.+)", s):
            return self._has("$", m.group(1))
        return None

    def _each_has(self, noun: str, fields_text: str) -> list[Check] | None:
        names = _fields_list(fields_text)
        array = None
        for candidate in (noun.lower(), noun.lower() + "s"):
            if candidate == self.last_array:
                array = candidate
        if names is None or array is None:
            return None
        return [JsonCheck(json_path(array), "each_has", names)]

    def _is(self, name: str, rest: str) -> list[Check] | None:
        path = json_path(name)
        if m := re.fullmatch(_VALUE + r"(?:, not " + _VALUE + ")?", rest):
            return [JsonCheck(path, "equals", _value(m.group(1)))]
        if re.fullmatch(r"a non-null ISO(?: 8601)? timestamp", rest):
            return [JsonCheck(path, "iso_timestamp")]
        return None

    def _has(self, base: str, clause: str) -> list[Check] | None:
        # whole-clause forms that contain "and" themselves
        if " and has " in clause:
            first, _, second = clause.partition(" and has ")
            a, b = self._has(base, first.rstrip(",")), self._has(base, second)
            return a + b if a is not None and b is not None else None
        if m := re.fullmatch(r"(.+) fields", clause):
            names = _fields_list(m.group(1))
            if names is not None:
                return [JsonCheck(f"{base}.{n}", "exists") for n in names]
        if m := re.fullmatch(_FIELD + r" array containing (.+?)(?: but not (.+))?", clause):
            return self._array_containing(base, m.group(1), m.group(2), m.group(3))
        if m := re.fullmatch(
            _FIELD + r" array with exactly (\d+) items? that (?:has|have) (.+)", clause
        ):
            return self._array_exactly(base, m.group(1), int(m.group(2)), m.group(3))
        if m := re.fullmatch(r"(\w+) that is a JSON object with (.+)", clause):
            return _object_with(f"{base}.{m.group(1)}", m.group(2))
        return self._has_items(base, clause)

    def _array_exactly(self, base: str, name: str, count: int, inner: str) -> list[Check] | None:
        """``NAME array with exactly N items that have ...``."""
        array = f"{base}.{name}"
        checks = self._has(f"{array}[*]", inner)
        if checks is None:
            return None
        self.last_array = name
        return [JsonCheck(array, "length", count), *checks]

    def _has_items(self, base: str, clause: str) -> list[Check] | None:
        """A comma/``and`` list of field forms; None unless every item is understood."""
        found: list[Check] = []
        for item in _split_items(clause):
            got = self._item(base, item)
            if got is None:
                return None
            found += got
        return found or None

    def _array_containing(
        self, base: str, name: str, wanted: str, unwanted: str | None
    ) -> list[Check] | None:
        path = f"{base}.{name}"
        yes = [re.fullmatch(_Q, w) for w in _split_items(wanted)]
        no = [re.fullmatch(_Q, w) for w in _split_items(unwanted or "")]
        if not all(yes) or not all(no):
            return None
        self.last_array = name
        head: list[Check] = [JsonCheck(path, "type", "array")]
        return (
            head
            + [JsonCheck(path, "contains", m.group(1)) for m in yes if m]
            + [JsonCheck(path, "not_contains", m.group(1)) for m in no if m]
        )

    def _item(self, base: str, item: str) -> list[Check] | None:  # noqa: C901 - flat list of forms
        f = f"{base}."
        if m := re.fullmatch(r"an? " + _FIELD + r" field", item):
            return [JsonCheck(f + m.group(1), "exists")]
        if m := re.fullmatch(_FIELD + r" \(UUID\)", item):
            return [JsonCheck(f + m.group(1), "uuid")]
        if m := re.fullmatch(_FIELD + r"(?: field)? (?:equal to|=|==) " + _VALUE, item):
            return [JsonCheck(f + m.group(1), "equals", _value(m.group(2)))]
        if m := re.fullmatch(r"(\w+)=" + _VALUE, item):
            return [JsonCheck(f + m.group(1), "equals", _value(m.group(2)))]
        if m := re.fullmatch(_FIELD + r" field (?:that is an integer )?>= (\d+)", item):
            checks: list[Check] = [JsonCheck(f + m.group(1), "min", int(m.group(2)))]
            if "integer" in item:
                checks.insert(0, JsonCheck(f + m.group(1), "type", "integer"))
            return checks
        if m := re.fullmatch(
            _FIELD + r" field matching the \1 from the (?:first page|previous response)", item
        ):
            return [JsonCheck(f + m.group(1), "same_as_before")]
        if m := re.fullmatch(r"(\w+) as (?:an? )?ISO(?: 8601)? timestamp", item):
            return [JsonCheck(f + m.group(1), "iso_timestamp")]
        if m := re.fullmatch(r"(\w+) is null", item):
            return [JsonCheck(f + m.group(1), "equals", None)]
        if m := re.fullmatch(r"empty " + _FIELD + r" array", item):
            self.last_array = m.group(1)
            return [JsonCheck(f + m.group(1), "length", 0)]
        if m := re.fullmatch(
            _FIELD + r" array with (exactly|at least|at most) (\d+) items?(?: \(at most (\d+)\))?",
            item,
        ):
            self.last_array = m.group(1)
            op = {"exactly": "length", "at least": "min_length", "at most": "max_length"}
            checks = [JsonCheck(f + m.group(1), op[m.group(2)], int(m.group(3)))]  # type: ignore[arg-type]
            if m.group(4):
                checks.append(JsonCheck(f + m.group(1), "max_length", int(m.group(4))))
            return checks
        if m := re.fullmatch(r"(\w+) " + _VALUE, item):
            return [JsonCheck(f + m.group(1), "equals", _value(m.group(2)))]
        return None


def compile_expectation(text: str | None) -> CompiledExpectation:
    """Split `text` into sentences; read each one fully or leave it for the judge."""
    out = CompiledExpectation()
    if not text or not text.strip():
        return out
    reader = _Reader()
    for sentence in split_sentences(text):
        checks = reader.sentence(sentence)
        if checks:
            out.checks.extend(checks)
        else:
            out.remainder.append(sentence)
    return out

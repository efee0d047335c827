"""Scripted answers of `assay scenarios compile` for the OctopusGarden compat corpus.

Written by reading each expectation left to the judge: a sentence gets clauses only where they
check exactly what it says (field names and values the sentence states). What is about meaning
("a message about the name being invalid"), names no field, or compares with a captured value
stays natural language; a sentence not listed here is answered "not sure".
"""

from __future__ import annotations

import re
from typing import Any

from pydantic_ai.models.function import FunctionModel

from assay.testing import scripted

__all__ = ["ANSWERS", "scripted_compiler"]

_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}"


def _error_about(subject: str) -> dict[str, Any]:
    """ "Response body contains an 'error' field with a message about <subject>.": the field and
    that it is a message are rules; what it is about is for the judge."""
    return {
        "assertions": {"json": [{"path": "$.error", "type": "string", "min_length": 1}]},
        "remainder": f"The error message is about {subject}.",
        "sure": True,
    }


ANSWERS: dict[str, dict[str, Any]] = {
    # kanban-board
    "Response contains 'id' (non-empty string), 'title' equal to 'Fix login bug', 'column' "
    "equal to 'todo', and 'created_at' (ISO 8601 timestamp).": {
        "assertions": {
            "json": [
                {"path": "$.id", "type": "string", "min_length": 1},
                {"path": "$.title", "equals": "Fix login bug"},
                {"path": "$.column", "equals": "todo"},
                {"path": "$.created_at", "type": "string", "matches": _ISO},
            ]
        },
        "remainder": "",
        "sure": True,
    },
    "Response body is an empty JSON array [].": {
        "assertions": {"json": [{"path": "$", "type": "array", "length": 0}]},
        "remainder": "",
        "sure": True,
    },
    "Response array contains exactly one card with 'title' equal to 'Sync test card' and "
    "'column' equal to 'todo'.": {
        "assertions": {
            "schema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "array",
                "contains": {
                    "type": "object",
                    "properties": {
                        "title": {"const": "Sync test card"},
                        "column": {"const": "todo"},
                    },
                    "required": ["title", "column"],
                },
                "minContains": 1,
                "maxContains": 1,
            }
        },
        "remainder": "",
        "sure": True,
    },
    # kv-store
    "Response has created=2 and errors array with 1 entry for the empty key.": {
        "assertions": {
            "json": [
                {"path": "$.created", "equals": 2},
                {"path": "$.errors", "type": "array", "length": 1},
            ]
        },
        "remainder": "The one entry of errors is for the empty key.",
        "sure": True,
    },
    # the request sends 0 records, so what this step can observe is the second sentence
    "Status 400 if more than 100 records are sent. | Since we sent 0, status 200 with created=0.": {
        "assertions": {"status": 200, "json": [{"path": "$.created", "equals": 0}]},
        "remainder": "",
        "sure": True,
    },
    "The key should have expired.": {  # a GET of the key after its TTL: 404 is the expiry
        "assertions": {"status": 404},
        "remainder": "",
        "sure": True,
    },
    "Response has an error field explaining the key is invalid.": {
        "assertions": {"json": [{"path": "$.error", "exists": True}]},
        "remainder": "The error explains the key is invalid.",
        "sure": True,
    },
    # octopus-garden
    "Output is compact (at most 10 lines) and contains octopus and garden elements.": {
        "assertions": {"stdout_matches": r"\A(?:[^\n]*\n){0,10}[^\n]*\Z"},
        "remainder": "Output contains octopus and garden elements.",
        "sure": True,
    },
    "Output is large and detailed (at least 20 lines) and contains octopus and garden elements.": {
        "assertions": {"stdout_matches": r"\A(?:[^\n]*\n){19}[^\n]"},
        "remainder": "Output is detailed and contains octopus and garden elements.",
        "sure": True,
    },
    # hello-api and todo-app: the field is a rule, its meaning is not
    "Response body contains an 'error' field with a message about the name being invalid.": (
        _error_about("the name being invalid")
    ),
    "Response body contains an 'error' field with a message about the name being required or "
    "missing.": _error_about("the name being required or missing"),
    "Response body contains an 'error' field with a message about the username being taken or "
    "already existing.": _error_about("the username being taken or already existing"),
    "Response body contains an 'error' field with a message about the username being invalid "
    "or empty.": _error_about("the username being invalid or empty"),
    "Response body contains an 'error' field with a message about the username being too "
    "short.": _error_about("the username being too short"),
    "Response body contains an 'error' field with a message about the username being required "
    "or missing.": _error_about("the username being required or missing"),
    "Response body contains an 'error' field with a message about the title being invalid or "
    "empty.": _error_about("the title being invalid or empty"),
    "Response body contains an 'error' field with a message about the title being required or "
    "missing.": _error_about("the title being required or missing"),
    "Response body contains an 'error' field with a message about the title exceeding the "
    "maximum length.": _error_about("the title exceeding the maximum length"),
}
"""Keyed by the sentences left to check, joined with `` | ``."""


def _left(prompt: str) -> str:
    section = prompt.split("## Left to check\n", 1)[1]
    return " | ".join(re.sub(r"^\d+\. ", "", line) for line in section.strip().splitlines())


def scripted_compiler(answers: dict[str, dict[str, Any]] | None = None) -> FunctionModel:
    """A compile model answering from `answers` (default `ANSWERS`); anything else: not sure."""
    table = ANSWERS if answers is None else answers

    def respond(prompt: str) -> dict[str, Any]:
        left = _left(prompt)
        return table.get(left, {"assertions": None, "remainder": left, "sure": False})

    return scripted(respond, name="scripted-compiler")

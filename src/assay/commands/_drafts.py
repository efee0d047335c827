"""An interview's draft as files: the spec's text and one scenario YAML per scenario, checked.

Rendering is assay's, not the model's: the draft's structured scenarios become YAML here, so a
file is always well-formed, and what is left to check is what the linter checks (ids, paths,
captures, JSONPaths). `check_draft` parses the spec with assay's own spec loader and lints the
scenarios exactly as ``assay scenarios lint`` does, on a private temporary copy.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML

from assay.agents.interviewer import Draft, ScenarioDraft, StepDraft
from assay.errors import UserError
from assay.scenarios.loader import load_dir
from assay.scenarios.problems import Problem
from assay.spec import parse_spec, slugify

__all__ = ["DraftFiles", "check_draft", "render_draft"]

_HEADER = (
    "# Holdout scenarios are never shown to the generating roles; keep them out of the spec.\n"
)


@dataclass(frozen=True, slots=True)
class DraftFiles:
    """What an interview writes: the spec's text and each scenario file's name and text."""

    spec: str
    """The whole spec file: front matter, then `body`."""
    body: str
    """The draft's Markdown as the model wrote it."""
    scenarios: dict[str, str]
    """File name (``<id>.yaml``) to YAML text, in the draft's order."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096  # long expectations stay on one line, as people write them
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _fields(model: BaseModel | None, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The fields the model set to something, as plain data: nulls and empties left out, but an
    empty string in a `keep` field is a value (``equals: ""``)."""
    if model is None:
        return {}
    data = model.model_dump(mode="json", exclude_none=True)
    return {k: v for k, v in data.items() if k in keep or v not in ({}, [], "")}


_JSON_VALUES = frozenset({"equals", "contains"})


def _step(step: StepDraft) -> dict[str, Any]:
    out: dict[str, Any] = {"description": step.description}
    if step.request is not None:
        request = _fields(step.request)
        if step.request.body is not None:
            request["body"] = step.request.body  # an empty {} body is still a body
        out["request"] = request
    if step.exec is not None:
        out["exec"] = _fields(step.exec)
    if step.ws is not None:
        ws = _fields(step.ws)
        receive = {k: ws.pop(f"receive_{k}") for k in ("timeout", "count") if f"receive_{k}" in ws}
        out["ws"] = ws | ({"receive": receive} if receive else {})
    if step.browser is not None:
        out["browser"] = _fields(step.browser)
    if step.capture:
        out["capture"] = [_fields(c) for c in step.capture]
    if step.expect:
        out["expect"] = step.expect
    if step.assertions is not None:
        checks = _fields(step.assertions.model_copy(update={"json_checks": []}))
        json = [_fields(j, _JSON_VALUES) for j in step.assertions.json_checks]
        checks |= {"json": json} if json else {}
        if checks:
            out["assert"] = checks
    return out


def scenario_yaml(scenario: ScenarioDraft) -> str:
    """One scenario in OctopusGarden's format (assay's ``assert`` block where given)."""
    doc: dict[str, Any] = {"id": scenario.id, "description": scenario.description}
    doc["type"] = scenario.type
    for key in ("tier", "weight"):
        if getattr(scenario, key) is not None:
            doc[key] = getattr(scenario, key)
    if scenario.satisfaction_criteria:
        doc["satisfaction_criteria"] = scenario.satisfaction_criteria
    if scenario.setup:
        doc["setup"] = [_step(s) for s in scenario.setup]
    doc["steps"] = [_step(s) for s in scenario.steps]
    return _HEADER + _dump(doc)


def _file_names(scenarios: list[ScenarioDraft]) -> list[str]:
    """``<id>.yaml`` per scenario; an id that is no safe name is slugified (the linter still
    reports the id itself), and a repeated name gets ``-2``, ``-3`` (lint reports the id)."""
    names: list[str] = []
    for n, sc in enumerate(scenarios, start=1):
        stem = slugify(sc.id) or f"scenario-{n}"
        name, k = f"{stem}.yaml", 2
        while name in names:
            name, k = f"{stem}-{k}.yaml", k + 1
        names.append(name)
    return names


def render_draft(draft: Draft, *, meta: dict[str, Any] | None = None) -> DraftFiles:
    """The files for `draft`; the spec's front matter is `meta` (a seed's keys) with its name,
    else the draft's name."""
    front: dict[str, Any] = {"name": draft.name.strip()} | dict(meta or {})
    spec = "---\n" + _dump(front) + "---\n" + draft.spec.strip() + "\n"
    texts = [scenario_yaml(sc) for sc in draft.scenarios]
    return DraftFiles(spec, draft.spec, dict(zip(_file_names(draft.scenarios), texts, strict=True)))


def check_draft(
    files: DraftFiles, *, spec_name: str, scenarios_dir: Path | None
) -> tuple[list[str], list[Problem]]:
    """The problems that stop `files` being written (one line each), and the lint warnings.

    The spec must parse with assay's loader; the scenarios must lint without an error, and are
    named in problems by where they will be written (`scenarios_dir`).
    """
    problems: list[str] = []
    body = files.body.lstrip()
    if body.startswith("---"):
        problems.append(f"{spec_name}: the spec must not carry its own front matter")
    elif not body.startswith("# "):
        problems.append(f"{spec_name}: the spec must start with a '# Title' heading")
    try:
        parse_spec(files.spec, source=spec_name)
    except UserError as exc:
        problems.append(str(exc))
    if scenarios_dir is None or not files.scenarios:
        if scenarios_dir is not None:
            problems.append("scenarios were asked for (--scenarios) but the draft has none")
        return problems, []
    with tempfile.TemporaryDirectory(prefix="assay-interview-") as tmp:
        for name, text in files.scenarios.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        result = load_dir(Path(tmp))
    shown = [replace(p, file=str(scenarios_dir / Path(p.file).name)) for p in result.problems]
    problems.extend(str(p) for p in shown if p.severity == "error")
    return problems, [p for p in shown if p.severity == "warning"]

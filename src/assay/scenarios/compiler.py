"""`assay scenarios compile`: natural-language expectations turned into ``assert`` clauses, once.

The judge is asked about the same sentences in every iteration of every run. Many of them are
rules in prose ("the body is an empty JSON array"). This asks a model once per step whose
expectation rules could not read in full, for the structured clauses it is *sure* express part
or all of it, and what stays natural language. Nothing is taken on trust:

- a proposal the model is not sure of changes nothing;
- each step's clauses are written into the document and the whole file linted again
  (`assay.scenarios.loader.load_text`); a step whose clauses make any error, or whose rewritten
  expectation the rules would not read as proposed, is left as it was, with the reason;
- the original expectation stays beside the clauses as a YAML comment, so a reviewer sees both;
- the files go to a new folder (never over one without ``force``), for a person to review and
  commit; the scenarios in use are never touched.

Assert values are literal (no ``{variable}`` substitution), so a comparison with a captured
value stays with the judge.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from assay._extras import FACTORY, require
from assay.errors import RunError, UserError
from assay.scenarios.expect import compile_expectation, split_sentences
from assay.scenarios.lint import plain
from assay.scenarios.loader import find_scenario_files, load_text
from assay.scenarios.model import Assertions, Step
from assay.scenarios.runner import step_checks

if TYPE_CHECKING:
    from pydantic_ai.models import Model

__all__ = ["INSTRUCTIONS", "Compiled", "Outcome", "Proposal", "StepOutcome", "compile_dir"]

INSTRUCTIONS = """\
You turn the expectation of one step of an acceptance test into structured assertions, only where
you are sure. You are shown the step (an HTTP request or a command), its whole expectation, the
sentences already checked by rules, and the sentences left to check, numbered.

Answer with:
- `assertions`: an `assert` block (status, exit_code, headers: name -> substring, json: a list of
  {path: JSONPath, and one or more of equals, contains, not_contains, matches (regex), type,
  exists, length, min_length, max_length, min, max}, schema: a JSON Schema for the body,
  body_contains, stdout_contains, stdout_matches, stderr_contains, stderr_matches), holding only
  clauses that check exactly what a sentence says: never more (no field name or value the step
  does not state), never less for what you claim;
- `remainder`: the part of the sentences left to check that your clauses do not express, as
  plain sentences (empty when they express all of it). A claim about meaning ("a message about
  the name being invalid") stays here;
- `sure`: true only when every clause holds exactly when its part of the expectation holds.

Values are literal: an assertion cannot refer to a value captured by an earlier step, so such a
comparison stays in `remainder`. When nothing can be expressed, give no assertions, the sentences
as the remainder, and sure = false.
"""

ASKED_KINDS = ("request", "exec")
"""Steps whose result an ``assert`` block checks (status and JSON body; exit code and output)."""


class Proposal(BaseModel):
    """The model's answer for one step."""

    assertions: Assertions | None = None
    """The clauses it is sure of (the ``assert`` block syntax)."""
    remainder: str = ""
    """What stays natural language, for the judge."""
    sure: bool = False


Outcome = Literal["compiled", "partly", "refused", "unsure", "not-asked"]


@dataclass
class StepOutcome:
    """What became of one step left (at least in part) to the judge."""

    where: str
    outcome: Outcome
    detail: str = ""


@dataclass
class Compiled:
    """What `compile_dir` did: per step, and the folder written."""

    out: Path
    steps: list[StepOutcome] = field(default_factory=list)
    files: int = 0
    decided_before: int = 0
    decided_after: int = 0
    total: int = 0

    def count(self, outcome: Outcome) -> int:
        """Steps with this outcome."""
        return sum(1 for s in self.steps if s.outcome == outcome)


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.width = 100
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # "  - description:", as the corpus writes
    return yaml


def _prompt(step: Step, read: Sequence[str], left: Sequence[str]) -> str:
    if step.request is not None:
        r = step.request
        what = f"HTTP {r.method} {r.path}"
        if r.has_body:
            what += f"\nbody: {r.body!r}"
    else:
        assert step.exec_ is not None
        what = f"command: {step.exec_.command}"
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(left, 1))
    checked = "\n".join(f"- {s}" for s in read) or "- (none)"
    return (
        f"Step: {step.description}\n{what}\n\n## Whole expectation\n{step.expect}\n\n"
        f"## Already checked by rules\n{checked}\n\n## Left to check\n{numbered}\n"
    )


def _merged(old: Any, new: Assertions) -> dict[str, Any]:
    """`new` added to the step's existing ``assert`` block; a key both set differently refuses."""
    base: dict[str, Any] = plain(old) if old is not None else {}
    for key, value in new.model_dump(by_alias=True, exclude_unset=True, mode="json").items():
        if key == "json":
            base["json"] = [*base.get("json", []), *value]
        elif key == "headers":
            clash = [h for h in value if h in base.get("headers", {})]
            if clash:
                raise ValueError(f"the assert block already checks header {clash[0]}")
            base["headers"] = {**base.get("headers", {}), **value}
        elif key in base and base[key] != value:
            raise ValueError(f"the assert block already sets {key} to {base[key]!r}")
        else:
            base[key] = value
    return base


def _comment(original: str) -> str:
    lines = original.strip().splitlines() or [""]
    head = "expect before `assay scenarios compile` (review the assert clauses against it):"
    return "\n".join([head, *(f"  {line}" for line in lines)])


class _File:
    """One scenario file's round-trip document, rewritten step by step and linted each time."""

    def __init__(self, path: Path, display: str) -> None:
        self.display = display
        self.text = path.read_text(encoding="utf-8")
        self.doc: Any = _yaml().load(self.text)
        self.changed = False
        """False: the file is copied byte for byte, not re-dumped."""

    def dump(self) -> str:
        buf = io.StringIO()
        _yaml().dump(self.doc, buf)
        return buf.getvalue()

    def step_nodes(self) -> list[CommentedMap]:
        steps = self.doc.get("steps") if isinstance(self.doc, CommentedMap) else None
        if not isinstance(steps, CommentedSeq):
            return []
        return [s for s in steps if isinstance(s, CommentedMap)]

    def apply(self, index: int, proposal: Proposal, read: Sequence[str]) -> str:
        """Write `proposal` into step `index`; an empty string when the file still lints clean
        and the step reads as proposed, else why it was undone."""
        node = self.step_nodes()[index]
        saved = {k: node[k] for k in ("expect", "assert") if k in node}
        assert proposal.assertions is not None
        try:
            block = _merged(node.get("assert"), proposal.assertions)
        except ValueError as exc:
            return str(exc)
        expect = " ".join([*read, proposal.remainder.strip()]).strip()
        original = str(node.get("expect") or "")
        if expect:
            node["expect"] = expect
        elif "expect" in node:
            del node["expect"]
        node["assert"] = block
        problem = self._check(index, expect)
        if problem:
            for k in ("expect", "assert"):
                node.pop(k, None)
            node.update(saved)
            return problem
        col = int(node.lc.col) if getattr(node, "lc", None) is not None else 4
        node.yaml_set_comment_before_after_key("assert", before=_comment(original), indent=col)
        self.changed = True
        return ""

    def _check(self, index: int, expect: str) -> str:
        result = load_text(self.dump(), self.display)
        if result.errors:
            return "; ".join(f"{p.rule} {p.message}" for p in result.errors[:3])
        step = result.scenarios[0].steps[index]
        _, left = step_checks(step)
        wanted = compile_expectation(expect).remainder if expect else []
        if left != wanted:  # e.g. a rule read the rewritten expectation differently
            return f"the rewritten expectation would be read as {left!r}"
        return ""


async def _propose(model: Model, prompt: str) -> Proposal:
    require("pydantic_ai", FACTORY, "assay scenarios compile")
    from pydantic_ai import Agent
    from pydantic_ai.exceptions import AgentRunError, ModelAPIError

    agent: Agent[None, Proposal] = Agent(
        model, output_type=Proposal, instructions=INSTRUCTIONS, name="compiler", retries=2
    )
    try:
        return (await agent.run(prompt)).output
    except (AgentRunError, ModelAPIError) as exc:
        raise RunError(f"the compile model failed: {exc}") from exc


def _prepare_out(src: Path, out: Path, force: bool) -> None:
    """Refuse to write over anything unless `force`, and never into the scenarios themselves."""
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise UserError(f"--out {out} must not be the scenario folder or inside it")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise UserError(f"{out} already exists and is not empty; pass --force to write over it")


async def compile_dir(
    src: Path, model: Model, *, out: Path, force: bool = False, concurrency: int = 4
) -> Compiled:
    """Compile every scenario file under `src` (a folder) into `out`, keeping relative paths.

    `src` must lint without errors first: a broken file is the author's to fix, not to compile.
    """
    if not src.is_dir():
        raise UserError(f"scenario folder does not exist: {src}")
    _prepare_out(src, out, force)
    files = find_scenario_files(src)
    if not files:
        raise UserError(f"no scenario files (*.yaml, *.yml) under {src}")
    done = Compiled(out=out, files=len(files))
    gate = asyncio.Semaphore(max(1, concurrency))
    docs: list[tuple[Path, _File]] = []
    for path in files:
        loaded = load_text(path.read_text(encoding="utf-8"), str(path))
        loaded.raise_for_errors()
        doc = _File(path, str(path))
        docs.append((path, doc))
        (scenario,) = loaded.scenarios
        asks = []
        for i, step in enumerate(scenario.steps):
            checks, left = step_checks(step)
            done.total += 1
            done.decided_before += bool(checks) and not left
            if not left:
                continue
            if step.kind not in ASKED_KINDS or not step.expect:
                detail = f"assert clauses check HTTP and command results, not {step.kind} steps"
                done.steps.append(StepOutcome(step.where, "not-asked", detail))
                continue
            read = [s for s in split_sentences(step.expect) if s not in left]
            asks.append((i, step, read, _prompt(step, read, left)))

        async def ask(prompt: str) -> Proposal:
            async with gate:
                return await _propose(model, prompt)

        proposals = await asyncio.gather(*(ask(a[3]) for a in asks))
        for (i, step, read, _), proposal in zip(asks, proposals, strict=True):
            done.steps.append(_apply(doc, i, step, read, proposal))
    _write(src, out, docs)
    after = [load_text(doc.dump(), doc.display) for _, doc in docs]
    for loaded in after:
        for step in (st for sc in loaded.scenarios for st in sc.steps):
            checks, left = step_checks(step)
            done.decided_after += bool(checks) and not left
    return done


def _apply(doc: _File, index: int, step: Step, read: list[str], proposal: Proposal) -> StepOutcome:
    if not proposal.sure or proposal.assertions is None:
        return StepOutcome(step.where, "unsure", "the model was not sure; left to the judge")
    if not proposal.assertions.model_fields_set:
        return StepOutcome(step.where, "unsure", "no clause proposed; left to the judge")
    problem = doc.apply(index, proposal, read)
    if problem:
        return StepOutcome(step.where, "refused", problem)
    if proposal.remainder.strip():
        return StepOutcome(step.where, "partly", f"left to the judge: {proposal.remainder}")
    return StepOutcome(step.where, "compiled")


def _write(src: Path, out: Path, docs: Sequence[tuple[Path, _File]]) -> None:
    """Every scenario file under `out` at its relative path, rewritten or as it was; other
    files of the folder are copied, so `out` is a whole scenario folder."""
    rewritten = dict(docs)
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        target = out / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = rewritten.get(path)
        if doc is None or not doc.changed:
            shutil.copyfile(path, target)
        else:
            target.write_text(doc.dump(), encoding="utf-8")

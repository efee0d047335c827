"""A run's progress as plain lines, one per step: the CI log of ``assay run --no-live``.

The ledger already records every step, so the lines are made from its events as they are
appended (`assay.ledger.Ledger.subscribe`), plus one line per gate as it finishes (from the
loop's `Progress`, since the ledger holds the gates' report only once all have run)::

    run: started greeter ("Greeter"), leak titles; models architect=..., coder=...
    iter 1 coder: model call to anthropic:claude-sonnet-4-5 (3 messages)
    iter 1 coder: model reply from anthropic:claude-sonnet-4-5, 812 tokens in / 96 out, $0.0031
    iter 1 gate ruff: failed
    iter 1 gates: ruff failed (2), mypy passed; 1 of 2 required passed
    iter 1 review: reject (1 finding): weak hash
    iter 1 scenarios: satisfaction 0.0/100, 0 of 1 passed
    iter 1 decision: continue - score 1.2, best 1.2; 1,934 tokens, $0.0000
    run: converged after 2 iteration(s) - ...; best iteration 2 (score 100.0); workspace 4dd1d63

Every line starts with a stable prefix (``run:``, ``iter N <role or step>:``) and is whole: text
that came from a model, a tool or a file name is printed literally (no markup is interpreted) with
control characters escaped (``\\n``, ``\\x1b``), so one event is always one line. No line holds a
duration or a path of the machine, and nothing is wrapped to a terminal's width.

`line_for` is pure (an event in, a line or None out); `PlainProgress` writes the lines to a text
stream and flushes each; `attach` hooks one to a `Factory`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import IO, TYPE_CHECKING, Any

from assay.gates.base import GateStatus, Severity
from assay.ledger import Event
from assay.ledger import kinds as k
from assay.terminal import plain as one_line

if TYPE_CHECKING:
    from assay.factory.loop import Factory, Progress

__all__ = ["PlainProgress", "attach", "line_for", "plain", "plain_lines_wanted", "plain_progress"]

_TEXT_MAX = 160
"""Longest piece of free text (a reason, a summary, a gate's message) kept in a line."""
_NAMES_MAX = 5
"""File names listed in a line before ``+N more``."""
_FINISHED = frozenset(s.value for s in GateStatus)
_CI_TRUE = frozenset({"1", "true", "yes"})


def plain(value: object, limit: int = _TEXT_MAX) -> str:
    """`value` as one line (`assay.terminal.plain`: what does not print is escaped), cut to
    `limit` characters."""
    text = one_line(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _str(p: Mapping[str, Any], key: str, limit: int = _TEXT_MAX) -> str:
    value = p.get(key)
    return "" if value is None else plain(value, limit)


def _int(value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    return 0


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _owners(items: list[dict[str, Any]]) -> str:
    """`` for the coder`` or `` (coder 3, tester 1)``: which role each item goes to."""
    from pydantic import ValidationError

    from assay.factory.feedback import owner_of
    from assay.messages import FeedbackItem

    counts: dict[str, int] = {}
    for item in items:
        try:
            owner = owner_of(FeedbackItem.model_validate(item))
        except ValidationError:
            owner = "coder"
        counts[owner] = counts.get(owner, 0) + 1
    if len(counts) <= 1:
        return f" for the {next(iter(counts), 'coder')}"
    return " (" + ", ".join(f"{role} {n}" for role, n in sorted(counts.items())) + ")"


def _dicts(value: object) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _dollars(value: object) -> str:
    amount = _num(value)
    return "unpriced" if amount is None else f"${amount:.4f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _severity(value: object) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError:
        return Severity.CRITICAL  # unknown: count it rather than hide it


def _names(paths: list[str]) -> str:
    shown = ", ".join(plain(p, 80) for p in paths[:_NAMES_MAX])
    more = len(paths) - _NAMES_MAX
    return f"{shown}, +{more} more" if more > 0 else shown


def _iter(p: Mapping[str, Any], what: str) -> str:
    return f"iter {_int(p.get('iteration'))} {what}:"


def _tail(text: str) -> str:
    return f": {text}" if text else ""


def _run_started(p: Mapping[str, Any]) -> str:
    name, title = _str(p, "spec_name", 80), _str(p, "spec_title", 80)
    spec = f'{name} ("{title}")' if title and title != name else name or title or "?"
    models = p.get("models")
    roles = (
        "; models " + ", ".join(f"{plain(r, 40)}={plain(m, 80)}" for r, m in sorted(models.items()))
        if isinstance(models, dict) and models
        else ""
    )
    return f"run: started {spec}, leak {_str(p, 'leak_level', 20) or '?'}{roles}"


def _message(p: Mapping[str, Any]) -> str | None:
    message = p.get("message")
    if not isinstance(message, dict):
        return None
    sender = _str(p, "sender", 40) or "unknown"
    kind = message.get("kind")
    if kind == "design":
        modules, planned = _dicts(message.get("modules")), message.get("file_plan")
        files = len(planned) if isinstance(planned, list) else 0
        return (
            f"{_iter(p, sender)} design for package {_str(message, 'package', 60) or '?'}, "
            f"{len(modules)} module(s), {files} planned file(s)"
        )
    if kind == "test-suite":
        paths = [str(f.get("path", "")) for f in _dicts(message.get("files"))]
        return f"{_iter(p, sender)} {len(paths)} test file(s){_tail(_names(paths))}"
    if kind == "changeset":
        paths = [str(f.get("path", "")) for f in _dicts(message.get("files"))]
        deleted = message.get("deletions")
        gone = len(deleted) if isinstance(deleted, list) else 0
        return (
            f"{_iter(p, sender)} changeset of {len(paths)} file(s), {gone} deletion(s)"
            f"{_tail(_names(paths))}"
        )
    if kind == "feedback":
        items, named = _dicts(message.get("items")), message.get("files")
        omitted = _int(message.get("omitted"))
        more = f", {omitted} omitted" if omitted else ""
        listed = len(named) if isinstance(named, list) else 0
        counted = f"{len(items)} item(s){_owners(items)}{more}"
        return f"{_iter(p, 'feedback')} {counted}, {listed} file(s)"
    return None  # the spec (the run.started line names it) and the review (its own event)


def _model_request(p: Mapping[str, Any]) -> str:
    role = _str(p, "role", 40) or "unknown"
    count = _int(p.get("messages"))
    model = _str(p, "model", 80) or "?"
    return f"{_iter(p, role)} model call to {model} ({_count(count, 'message')})"


def _model_response(p: Mapping[str, Any]) -> str:
    role = _str(p, "role", 40) or "unknown"
    tokens = f"{_int(p.get('tokens_in')):,} tokens in / {_int(p.get('tokens_out')):,} out"
    return (
        f"{_iter(p, role)} model reply from {_str(p, 'model', 80) or '?'}, {tokens}, "
        f"{_dollars(p.get('cost_usd'))}"
    )


def _gate(result: Mapping[str, Any]) -> str:
    name, status = _str(result, "gate", 40) or "?", _str(result, "status", 20) or "?"
    floor = _severity(result.get("fail_on", "low"))
    blocking = [
        f
        for f in _dicts(result.get("findings"))
        if f.get("waived_by") is None and _severity(f.get("severity")) >= floor
    ]
    text = f"{name} {status}"
    if blocking:
        text += f" ({len(blocking)})"
    if status in (GateStatus.ERROR, GateStatus.NOT_EVALUATED) and result.get("message"):
        text += f" [{_str(result, 'message', 80)}]"
    if result.get("cached") is True:
        text += " cached"
    return text


def _gate_result(p: Mapping[str, Any]) -> str:
    report = p.get("report")
    if isinstance(report, dict):
        results = _dicts(report.get("results"))
    elif isinstance(p.get("result"), dict):
        results = [p["result"]]
    else:
        results = []
    required = [
        r for r in results if r.get("required") is True and r.get("status") != "not-applicable"
    ]
    passed = [r for r in required if r.get("status") == GateStatus.PASSED]
    gates = ", ".join(_gate(r) for r in results) or "none run"
    return f"{_iter(p, 'gates')} {gates}; {len(passed)} of {len(required)} required passed"


def _security_review(p: Mapping[str, Any]) -> str:
    count = len(_dicts(p.get("findings")))
    return (
        f"{_iter(p, 'review')} {_str(p, 'verdict', 20) or '?'} ({_count(count, 'finding')})"
        f"{_tail(_str(p, 'summary'))}"
    )


def _scenario_result(p: Mapping[str, Any]) -> str:
    score = _num(p.get("score"))
    shown = "?" if score is None else f"{score:.1f}"
    scenarios = _dicts(p.get("scenarios"))
    passed = sum(1 for s in scenarios if s.get("passed") is True)
    counts = f", {passed} of {len(scenarios)} passed" if scenarios else ""
    error = _str(p, "error")
    tier = p.get("tier")
    upto = f" tiers <= {_int(tier)}," if tier is not None else ""
    return f"{_iter(p, 'scenarios')}{upto} satisfaction {shown}/100{counts}" + (
        f"; error: {error}" if error else ""
    )


def _tier_advanced(p: Mapping[str, Any]) -> str:
    sat = _num(p.get("satisfaction"))
    return (
        f"{_iter(p, 'tier')} tiers <= {_int(p.get('from_tier'))} passed "
        f"({'?' if sat is None else f'{sat:.1f}'}/100); tier {_int(p.get('to_tier'))} is run "
        "from now on"
    )


def _scenario_regression(p: Mapping[str, Any]) -> str:
    found = _dicts(p.get("scenarios"))
    names = ", ".join(
        f"{plain(r.get('id', '?'), 80)} (passed in iteration {_int(r.get('passed_in'))})"
        for r in found[:_NAMES_MAX]
    )
    more = f", +{len(found) - _NAMES_MAX} more" if len(found) > _NAMES_MAX else ""
    return f"{_iter(p, 'regression')} {_count(len(found), 'scenario')} fail again: {names}{more}"


def _loop_decision(p: Mapping[str, Any]) -> str:
    reason = _str(p, "reason")
    escalated = "; escalated to the strong model" if p.get("decision") == "escalate" else ""
    return (
        f"{_iter(p, 'decision')} {_str(p, 'decision', 40) or '?'}"
        f"{f' - {reason}' if reason else ''}{escalated}; "
        f"{_int(p.get('tokens')):,} tokens, {_dollars(p.get('cost_usd'))}"
    )


def _edit_rejected(p: Mapping[str, Any]) -> str:
    role = _str(p, "role", 40) or "coder"
    return f"{_iter(p, role)} edit rejected: {_str(p, 'path', 120)} - {_str(p, 'reason')}"


def _workspace_commit(p: Mapping[str, Any]) -> str:
    message = p.get("message")
    subject = plain(message.splitlines()[0] if message else "") if isinstance(message, str) else ""
    rejected = _dicts(p.get("rejected"))
    more = f"; {len(rejected)} edit(s) rejected" if rejected else ""
    commit = _str(p, "commit", 200)[:7] or "?"
    return f"{_iter(p, 'commit')} {commit}" + (f' "{subject}"' if subject else "") + more


def _run_finished(p: Mapping[str, Any]) -> str:
    reason = _str(p, "reason")
    best = _num(p.get("best_score"))
    commit = _str(p, "workspace_commit", 200)[:7] or "?"
    return (
        f"run: {_str(p, 'outcome', 40) or '?'} after {_int(p.get('iterations'))} iteration(s)"
        f"{f' - {reason}' if reason else ''}; best iteration {_int(p.get('best_iteration'))} "
        f"(score {0.0 if best is None else best:.1f}); workspace {commit}; "
        f"{_int(p.get('tokens')):,} tokens, {_dollars(p.get('cost_usd'))}"
    )


def _dependencies_locked(p: Mapping[str, Any]) -> str:
    if p.get("refused"):
        return f"{_iter(p, 'dependencies')} refused - {_str(p, 'refused')}"
    components = _dicts(p.get("components"))
    direct = sum(1 for c in components if c.get("direct"))
    audit = "not audited" if p.get("not_audited") else "audited"
    return (
        f"{_iter(p, 'dependencies')} locked {len(components)} component(s) ({direct} direct) "
        f"with hashes; licences checked; {audit}"
    )


def _dependencies_refused(p: Mapping[str, Any]) -> str:
    asked = ", ".join(str(r) for r in p.get("requested") or [])[:200]
    reasons = "; ".join(str(r) for r in p.get("reasons") or [])
    return f"iter 0 architect: dependencies {plain(asked)} sent back - {plain(reasons)[:400]}"


def _run_traced(p: Mapping[str, Any]) -> str:
    return f"run: traced, trace id {_str(p, 'trace_id', 32) or '?'}"


def _preflight(p: Mapping[str, Any]) -> str:
    found = p.get("report")
    report: Mapping[str, Any] = found if isinstance(found, dict) else {}
    given = report.get("review")
    review: Mapping[str, Any] | None = given if isinstance(given, dict) else None
    score = _num(review.get("overall")) if review else None
    shown = "not reviewed by a model" if score is None else f"clarity {score:.2f}"
    findings = _count(len(_dicts(report.get("findings"))), "finding")
    verdict = "passed" if report.get("passed") is True else "failed"
    bar = _num(report.get("threshold")) or 0.0
    return f"iter 0 preflight: {verdict}, {shown} (threshold {bar:.2f}), {findings}"


def _checkpoint(p: Mapping[str, Any]) -> str:
    return f"run: ledger sealed, signed checkpoint over events 1..{_int(p.get('seq'))}"


def _approval(p: Mapping[str, Any]) -> str:
    return f"run: approved by {_str(p, 'approver', 80) or '?'}{_tail(_str(p, 'reason'))}"


_LINES: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    k.RUN_STARTED: _run_started,
    k.RUN_TRACED: _run_traced,
    k.PREFLIGHT_RESULT: _preflight,
    k.MESSAGE: _message,
    k.MODEL_REQUEST: _model_request,
    k.MODEL_RESPONSE: _model_response,
    k.GATE_RESULT: _gate_result,
    k.SECURITY_REVIEW: _security_review,
    k.SCENARIO_RESULT: _scenario_result,
    k.TIER_ADVANCED: _tier_advanced,
    k.SCENARIO_REGRESSION: _scenario_regression,
    k.LOOP_DECISION: _loop_decision,
    k.EDIT_REJECTED: _edit_rejected,
    k.WORKSPACE_COMMIT: _workspace_commit,
    k.DEPENDENCIES_LOCKED: _dependencies_locked,
    k.DEPENDENCIES_REFUSED: _dependencies_refused,
    k.RUN_FINISHED: _run_finished,
    k.CHECKPOINT: _checkpoint,
    k.APPROVAL: _approval,
}


def line_for(event: Event) -> str | None:
    """The progress line for one ledger event, or None for an event not worth a line.

    Lenient like the report: a missing or mistyped payload key shows as ``?`` or 0, never an
    exception. An unknown kind (a plugin's) gets a generic ``event N: <kind>`` line.
    """
    make = _LINES.get(event.kind)
    line = make(event.payload) if make else f"event {event.seq}: {plain(event.kind, 80)}"
    return None if line is None else plain(line, 10_000)


def _gate_line(iteration: int, gate: str, state: str) -> str:
    return plain(f"iter {iteration} gate {plain(gate, 40)}: {plain(state, 20)}", 10_000)


class PlainProgress:
    """Writes one line per ledger event (call it with an `Event`) and per finished gate.

    Each line is written whole and flushed at once. A stream that fails (a closed pipe) stops
    the printing, never the run.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self._gates: tuple[int, set[str]] = (-1, set())

    def write(self, line: str) -> None:
        """Write `line` and a newline, then flush."""
        with self._lock:
            if self._broken:
                return
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                self._broken = True

    def __call__(self, event: Event) -> None:
        """The ledger listener: print the event's line, if it has one."""
        try:
            line = line_for(event)
        except Exception:  # a formatting bug must not stop a run
            line = f"event {event.seq}: {plain(event.kind, 80)}"
        if line is not None:
            self.write(line)

    def on_progress(self, progress: Progress) -> None:
        """The loop's progress callback: a line for each gate as it finishes."""
        if progress.phase != "gates":
            return
        iteration, done = self._gates
        if iteration != progress.iteration:
            iteration, done = progress.iteration, set()
            self._gates = (iteration, done)
        for gate, state in progress.gates.items():
            if state in _FINISHED and gate not in done:
                done.add(gate)
                self.write(_gate_line(iteration, gate, state))


def plain_progress(stream: IO[str]) -> PlainProgress:
    """A printer of progress lines to `stream`; pass it to `Ledger.subscribe`."""
    return PlainProgress(stream)


def attach(factory: Factory, stream: IO[str]) -> PlainProgress:
    """Print `factory`'s progress to `stream` as plain lines: its ledger's events and its gates.

    Any ``on_progress`` callback already set keeps being called.
    """
    printer = plain_progress(stream)
    factory.ledger.subscribe(printer)
    previous = factory.on_progress

    def on_progress(progress: Progress) -> None:
        printer.on_progress(progress)
        if previous is not None:
            previous(progress)

    factory.on_progress = on_progress
    return printer


def plain_lines_wanted(
    *, no_live: bool, is_terminal: bool, env: Mapping[str, str] | None = None
) -> bool:
    """True when progress should be plain lines: ``--no-live``, no terminal, or ``CI=true``."""
    ci = (os.environ if env is None else env).get("CI", "")
    return no_live or not is_terminal or ci.strip().lower() in _CI_TRUE

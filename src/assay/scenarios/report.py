"""Render a `ValidationReport`: table and step lines for people, JSON and JUnit for machines."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from rich.console import Console

from assay.scenarios.results import (
    ScenarioResult,
    ScenarioStatus,
    StepResult,
    StepStatus,
    ValidationReport,
)
from assay.terminal import Cell, literal, print_table

__all__ = ["print_report", "to_json", "to_junit", "weakest_step"]

_STYLE = {
    ScenarioStatus.PASSED: "green",
    ScenarioStatus.FAILED: "red",
    ScenarioStatus.SETUP_FAILED: "bold red",
    ScenarioStatus.UNJUDGED: "yellow",
}


def _step_line(sc: ScenarioResult, step: StepResult, score: float) -> str:
    reason = step.message or "; ".join(step.judge.failures if step.judge else [])
    line = (
        f"{sc.id} {step.phase} {step.index + 1} ({step.where}) {step.description!r}: "
        f"{step.status} {score:.0f}"
    )
    return f"{line}: {reason}" if reason else line


def _shortfalls(report: ValidationReport) -> Iterator[tuple[float, str]]:
    """(score, line) of every step below 100, and of every scenario below 100 without steps."""
    for sc in report.scenarios:
        if not sc.setup and not sc.steps and sc.score < 100:
            yield sc.score, f"{sc.id}: {sc.status} {sc.score:.1f}: {sc.message}"
        for step in [*sc.setup, *sc.steps]:
            score = 0.0 if step.score is None else step.score
            if score < 100:
                yield score, _step_line(sc, step, score)


def weakest_step(report: ValidationReport, limit: int = 300) -> str:
    """One line naming the step that cost the most (lowest score; the first of equals) and why;
    empty when every step scored 100."""
    worst = min(_shortfalls(report), key=lambda found: found[0], default=None)
    if worst is None:
        return ""
    text = worst[1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def to_json(report: ValidationReport) -> str:
    """The report as indented JSON."""
    return report.model_dump_json(indent=2)


def to_junit(report: ValidationReport) -> str:
    """JUnit XML: one testsuite per scenario, one testcase per judged step."""
    root = ET.Element(
        "testsuites",
        name="assay validate",
        tests=str(report.steps_total),
        time=f"{report.duration_s:.3f}",
    )
    for sc in report.scenarios:
        bad = [s for s in sc.steps if s.status not in (StepStatus.PASSED, StepStatus.JUDGED)]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=sc.id,
            file=sc.file,
            tests=str(len(sc.steps) or 1),
            failures=str(len(bad)),
            time=f"{sc.duration_s:.3f}",
        )
        ET.SubElement(
            ET.SubElement(suite, "properties"), "property", name="score", value=str(sc.score)
        )
        if sc.status is ScenarioStatus.SETUP_FAILED:
            case = ET.SubElement(suite, "testcase", classname=sc.id, name="setup")
            ET.SubElement(case, "failure", type="setup-failed", message=sc.message)
            continue
        for step in sc.steps:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=sc.id,
                name=f"{step.index + 1}: {step.description}",
                file=step.where.rsplit(":", 1)[0],
                line=step.where.rsplit(":", 1)[1],
                time=f"{step.duration_s:.3f}",
            )
            judged_low = step.status is StepStatus.JUDGED and (step.score or 0) < report.threshold
            if step.status not in (StepStatus.PASSED, StepStatus.JUDGED) or judged_low:
                ET.SubElement(case, "failure", type=str(step.status), message=step.message)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def print_report(
    out: Console, notes: Console, report: ValidationReport, *, verbose: bool = False
) -> None:
    """The table of scenarios and the verdict on `notes` (silent under -q); on `out`, each
    failing step as one whole ``file:line`` line with its reason."""
    rows: list[list[Cell]] = [
        [
            sc.id,
            (str(sc.status), _STYLE[sc.status]),
            f"{sc.score:.1f}",
            f"{sc.weight:g}",
            str(len(sc.steps)),
            sc.message,
        ]
        for sc in report.scenarios
    ]
    columns = ("scenario", "status", "score", "weight", "steps", "detail")
    print_table(notes, f"assay validate {report.target}", columns, rows)
    for sc in report.scenarios:
        for step in sc.failing_steps if not verbose else [*sc.setup, *sc.steps]:
            judge = ""
            if step.judge:
                judge = f" judge {step.judge.mean:.1f}±{step.judge.spread:.1f} {step.judge.scores}"
                if step.judge.asked < step.judge.k:
                    judge += f" ({step.judge.asked} of {step.judge.k} samples: they agreed)"
                if step.judge.reused_from is not None:
                    judge += f" (verdict reused from {step.judge.reused_from})"
            out.print(
                f"{literal(step.where)}: [bold]{literal(sc.id)}[/] {step.phase} {step.index + 1} "
                f"{literal(step.description)}: [{'red' if step.score == 0 else 'yellow'}]"
                f"{step.status}[/]{literal(judge)} {literal(step.message)}"
            )
    share = (
        f"{report.steps_without_model}/{report.steps_total} steps decided without a model"
        if report.steps_total
        else "no steps ran"
    )
    colour = "green" if report.passed else "red"
    notes.print(share)
    if report.judge_calls or report.judge_reused:
        saved = f", {report.judge_calls_saved} sample(s) saved by early stop"
        notes.print(
            f"judge: {report.judge_calls} model call(s), {report.judge_reused} verdict(s) reused"
            f"{saved if report.judge_calls_saved else ''}, up to {report.judge_concurrency} "
            f"step(s) at once, {report.judge_duration_s:.2f} s"
        )
    notes.print(f"[bold {colour}]{literal(report.summary)}[/]")

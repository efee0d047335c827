"""`assay interview`: draft a spec (and holdout scenarios) by answering a model's questions.

The conversation is `assay.agents.interviewer.run_interview`; this module is the terminal around
it: where the model comes from, the questions printed and the answers read (one line each), the
draft checked (`assay.commands._drafts`) and written only when the spec parses and the scenarios
lint clean. Existing files are never overwritten without ``--force``, and they are checked before
the first question, so no answer is given for nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay._extras import require_factory
from assay.errors import UserError

if TYPE_CHECKING:
    from pydantic_ai.models import Model

    from assay.agents.interviewer import Questions
    from assay.config import Settings

__all__ = ["INTERVIEW_MODEL_ENV", "register"]

INTERVIEW_MODEL_ENV = "ASSAY_INTERVIEW_MODEL"
TESTING_ROLE = "interviewer"
"""The key of the interviewer's model in an ``ASSAY_TESTING_MODELS`` mapping."""

ReadFn = Callable[[str], str]


def _read_line(prompt: str) -> str:
    """One answer from standard input; its end is a clear error, not a silent empty answer."""
    try:
        return input(prompt)
    except EOFError:
        raise UserError(
            "standard input ended before every question was answered; nothing was written"
        ) from None


def _asker(read: ReadFn) -> Callable[[Questions], list[str]]:
    """Print each question with why it matters, and read its answer (an empty line: none)."""
    from assay.terminal import console, literal

    out = console()

    def ask(questions: Questions) -> list[str]:
        answers = []
        for n, q in enumerate(questions.questions, start=1):
            out.print(f"\n[bold]{n}. {literal(q.question)}[/]")
            out.print(f"   [dim]why: {literal(q.why)}[/]")
            answers.append(read("> "))
        return answers

    return ask


def _model(
    model: str | None, base_url: str | None, settings: Settings, env: Mapping[str, str]
) -> tuple[Model, str]:
    """The interviewer's model and its label: ``--model``, then ``ASSAY_INTERVIEW_MODEL``,
    ``ASSAY_MODEL``, ``[tool.assay.models] default``; scripted under ``ASSAY_TESTING_MODELS``."""
    from assay.agents.models import build_model
    from assay.plugins import make_plugin_manager
    from assay.testing import TESTING_MODELS_ENV, models_from_env

    scripted = models_from_env(env)
    if scripted is not None:
        if TESTING_ROLE not in scripted:
            raise UserError(f"{TESTING_MODELS_ENV}: no model for {TESTING_ROLE}")
        return scripted[TESTING_ROLE], f"scripted:{TESTING_ROLE}"
    chosen = (
        model or env.get(INTERVIEW_MODEL_ENV) or env.get("ASSAY_MODEL") or settings.models.default
    )
    if not chosen:
        raise UserError(
            f"no model for the interview: pass --model, or set {INTERVIEW_MODEL_ENV}, ASSAY_MODEL"
            " or [tool.assay.models] default (e.g. anthropic:claude-sonnet-4-5 with "
            "ANTHROPIC_API_KEY)"
        )
    built = build_model(
        chosen, env=env, plugins=make_plugin_manager(settings=settings),
        base_url=base_url or settings.models.base_url, timeout_s=settings.models.timeout_s,
        retries=settings.models.retries,
    )  # fmt: skip
    return built, chosen


def _refuse_existing(out: Path, scenarios: Path | None, force: bool) -> None:
    """Stop before the first question when the interview would overwrite something."""
    if force:
        return
    if out.exists():
        raise UserError(f"{out} exists; not overwriting it (use --force, or another --out)")
    if scenarios is not None and scenarios.exists():
        if not scenarios.is_dir():
            raise UserError(f"--scenarios {scenarios} is a file, not a folder")
        if any(scenarios.iterdir()):
            raise UserError(
                f"{scenarios} is not empty; not writing scenarios into it (use --force, or an "
                "empty or new folder)"
            )


def _write(path: Path, text: str) -> None:
    """Write `text` whole: a temporary file renamed into place, so no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.assay-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def interview_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="The spec file to write.")] = Path(
        "spec.md"
    ),
    scenarios: Annotated[
        Path | None,
        typer.Option("--scenarios", "-s", help="Draft holdout scenarios into this folder too."),
    ] = None,
    seed: Annotated[
        Path | None, typer.Option("--seed", help="An existing spec to improve.")
    ] = None,
    about: Annotated[
        str | None,
        typer.Option("--about", help="What to build, in a sentence (asked for when missing)."),
    ] = None,
    max_rounds: Annotated[
        int, typer.Option("--max-rounds", min=0, help="Question rounds before the draft.")
    ] = 3,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="The model, e.g. openai:gpt-4.1.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="OpenAI-compatible server (Ollama, vLLM).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="assay.toml to use.")] = None,
) -> int:
    """Draft a spec (and scenarios) by answering a model's questions; --seed improves a spec."""
    return interview(
        out=out, scenarios=scenarios, seed=seed, about=about, max_rounds=max_rounds, force=force,
        model=model, base_url=base_url, config=config, read=_read_line, env=dict(os.environ),
    )  # fmt: skip


def interview(
    *,
    out: Path,
    scenarios: Path | None,
    seed: Path | None,
    about: str | None,
    max_rounds: int,
    force: bool,
    model: str | None,
    base_url: str | None,
    config: Path | None,
    read: ReadFn,
    env: Mapping[str, str],
) -> int:
    """The command with its input (`read`) and environment given: what tests drive."""
    require_factory("assay interview")
    from assay.agents.interviewer import InterviewBrief, make_interviewer, run_interview
    from assay.commands._drafts import check_draft, render_draft
    from assay.config import find_first_config, load_settings
    from assay.spec import load_spec
    from assay.terminal import console, info_console, literal

    seeded = load_spec(seed) if seed is not None else None  # a bad seed fails before anything
    _refuse_existing(out, scenarios, force)
    settings = load_settings(config if config is not None else find_first_config(Path.cwd()))
    agent_model, label = _model(model, base_url, settings, env)
    if about is None and seeded is None:
        console().print("[bold]What should the service do, and for whom?[/]")
        about = read("> ")
        if not about.strip():
            raise UserError("nothing to interview about: describe the service, or pass --seed")
    meta: dict[str, Any] = {"name": seeded.name, **seeded.meta} if seeded else {}
    warnings: list[Any] = []

    def check(draft: Any) -> list[str]:
        kept = draft if scenarios is not None else draft.model_copy(update={"scenarios": []})
        problems, found = check_draft(
            render_draft(kept, meta=meta), spec_name=str(out), scenarios_dir=scenarios
        )
        warnings[:] = found
        return problems

    notes = info_console(stderr=True)
    notes.print(f"interviewing with {literal(label)}; answer each question on one line")
    brief = InterviewBrief(
        about=about or "", seed=seed.read_text(encoding="utf-8") if seed else None,
        scenarios=scenarios is not None, max_rounds=max_rounds,
    )  # fmt: skip
    draft = run_interview(
        make_interviewer(agent_model), brief, ask=_asker(read), check=check, label=label
    )
    if scenarios is None:
        draft = draft.model_copy(update={"scenarios": []})
    files = render_draft(draft, meta=meta)
    targets = [(scenarios / n, t) for n, t in files.scenarios.items()] if scenarios else []
    targets.append((out, files.spec))
    clash = [str(p) for p, _ in targets if p.exists()] if not force else []
    if clash:  # appeared while the user answered: still never overwritten
        raise UserError(f"{', '.join(clash)} exist(s) now; not overwriting (use --force)")
    for path, text in targets:
        _write(path, text)
    shown = console()
    for w in warnings:
        shown.print(f"[yellow]warning:[/] {literal(w)}")
    for point in draft.open_points:
        shown.print(f"[yellow]review:[/] {literal(point)}")
    written = f"{out}" + (
        f" and {len(files.scenarios)} scenario(s) in {scenarios}" if scenarios else ""
    )
    next_step = f"assay run {out}" + (f" --scenarios {scenarios}" if scenarios else "")
    shown.print(f"wrote {literal(written)}\nnext: review it, then `{literal(next_step)}`")
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay interview`."""
    app.command("interview")(interview_command)

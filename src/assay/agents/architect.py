"""The architect: spec in, `Design` out; and an amended `Design` when the coder asks for one.

A design is checked as soon as it is produced (`design_problem`): assay starts the service from
``start_command`` as an argv, never through a shell, so an environment assignment or shell syntax
there can only fail at run time, in every iteration, where no other role may fix it. A design with
a problem goes back to the architect with the reason (pydantic-ai's output-validation retry), and
so does one whose dependencies the run's policy refuses (`assay.deps`).
"""

from __future__ import annotations

import re
import shlex

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.messages import Design, Spec

__all__ = [
    "architect_agent",
    "architect_prompt",
    "check_design",
    "design_problem",
    "redesign_prompt",
    "start_command_problem",
]

_SHELL = re.compile(r"[$`|&;<>()*?~\\\n]")
"""Characters a shell would interpret: a variable, a pipe, a list, a redirection, a glob..."""
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HOW = (
    "assay runs it as an argv without a shell and sets PORT and PYTHONPATH=src itself; write "
    "`python -m <module>` or `python <script>` for a module or script in the file plan, and read "
    "the port from the PORT environment variable in the code"
)


def _module_files(module: str) -> tuple[str, ...]:
    base = module.replace(".", "/")
    return tuple(f"{root}{base}{tail}" for root in ("src/", "") for tail in (".py", "/__init__.py"))


def start_command_problem(design: Design) -> str | None:
    """Why `design.start_command` cannot start the service, or None when it can (or is empty:
    then assay runs ``python -m <package>``)."""
    command = design.start_command.strip()
    if not command:
        return None
    bad = _SHELL.search(command)
    if bad is not None:
        return f"start_command {command!r} holds shell syntax ({bad.group()!r}); {_HOW}"
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        return f"start_command {command!r} is not an argv ({exc}); {_HOW}"
    if _ASSIGNMENT.match(argv[0]):
        return f"start_command {command!r} starts with an environment assignment; {_HOW}"
    if not _PYTHON.match(argv[0]):
        return f"start_command {command!r} does not start with python; {_HOW}"
    problem = _target_problem(argv, design)
    return None if problem is None else f"start_command {command!r}: {problem}"


def _target_problem(argv: list[str], design: Design) -> str | None:
    """Why the module or script `argv` runs is not one the design provides, or None."""
    plan = set(design.file_plan)
    if len(argv) >= 3 and argv[1] == "-m":
        module = argv[2]
        if not _MODULE.match(module):
            return f"{module!r} is not a module name; {_HOW}"
        main = f"src/{module}/__main__.py"
        if module == design.package:
            ok = not plan or main in plan
            return None if ok else f"running the package needs {main}; add it to the file_plan"
        if module.split(".")[0] == design.package and plan.intersection(_module_files(module)):
            return None
        return f"module {module!r} is neither the package {design.package!r} nor in the file_plan"
    if len(argv) >= 2 and not argv[1].startswith("-"):
        return None if argv[1] in plan else f"script {argv[1]!r} is not in the file_plan"
    return f"it names no module or script; {_HOW}"


def design_problem(design: Design) -> str | None:
    """Why `design` cannot be built and started as it stands, or None."""
    if not _MODULE.match(design.package) or "." in design.package:
        return f"package {design.package!r} is not an importable top-level name (snake_case)"
    return start_command_problem(design)


async def check_design(ctx: RunContext[WorkspaceDeps], design: Design) -> Design:
    """pydantic-ai output validator: a design with a problem goes back with the reason. Its
    dependencies are checked too, when the run checks them (`WorkspaceDeps.check_dependencies`:
    policy, resolution, licences, known vulnerabilities)."""
    problem = design_problem(design)
    # A design that says it cannot meet the spec stops the run before anything is built.
    checked = design.dependencies and not design.unmet_requirements
    if problem is None and ctx.deps.check_dependencies is not None and checked:
        problem = await ctx.deps.check_dependencies(design.dependencies)
    if problem is not None:
        raise ModelRetry(f"The design cannot be used: {problem}. Return the corrected design.")
    return design


def architect_agent(model: Model) -> Agent[WorkspaceDeps, Design]:
    """The architect agent; its designs are checked. Its read-only tools see the scaffold it will
    get (`assay.factory.context.write_preview`)."""
    agent = make_agent("architect", model, Design, tools=True)
    agent.output_validator(check_design)
    return agent


def _head(world: World | None, house_style: str | None) -> str:
    """The stable opening: the environment, then the house style (both fixed for a run)."""
    parts = [world.render("architect")] if world is not None else []
    parts += [house_style] if house_style else []
    return "".join(f"{p}\n\n" for p in parts)


def architect_prompt(spec: Spec, world: World | None = None, house_style: str | None = None) -> str:
    """The architect's user prompt; its environment (`assay.agents.world`) and the team's house
    style (`assay.housestyle.render.brief`) first."""
    head = _head(world, house_style)
    return (
        f"{head}Design the service described by this spec ({spec.name}).\n\n"
        f"<spec>\n{spec.body}</spec>\n"
    )


def redesign_prompt(
    spec: Spec,
    design: Design,
    request: str,
    findings: str,
    world: World | None = None,
    house_style: str | None = None,
) -> str:
    """The architect's prompt when the coder asks for a design change: its environment, the
    house style, the spec, the current design, the coder's request and the findings it is
    working on."""
    head = _head(world, house_style)
    return head + (
        f"The coder building {spec.name} asks for a change to your design. Return the whole "
        "amended design, with `amendment` saying what changed and why; return it unchanged (and "
        "say why in `amendment`) if the request is wrong.\n\n"
        f"<spec>\n{spec.body}</spec>\n\n<design>\n{design.model_dump_json(indent=1)}\n</design>\n\n"
        f"<request>\n{request}\n</request>\n\n<findings>\n{findings or '(none)'}\n</findings>\n"
    )

"""Role agents a plugin may supply in place of the built-in ones (hook ``assay_roles``).

A role factory is ``(model: pydantic_ai.models.Model) -> pydantic_ai.Agent`` whose output type is
that role's message type. `checked_roles` turns what the plugins offer into factories that check
each agent they build and report a wrong one against its plugin; `RoleAgents` builds every role's
agent, from the plugin's factory when there is one, else the built-in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.models import Model

from assay.agents.architect import architect_agent, check_design
from assay.agents.coder import coder_agent
from assay.agents.reviewer import reviewer_agent
from assay.agents.tester import tester_agent
from assay.agents.tools import WorkspaceDeps
from assay.errors import UserError
from assay.messages import Changeset, Design, SecurityReview, TestSuite

if TYPE_CHECKING:
    from assay.plugins._manager import AssayPluginManager, ProblemKind

__all__ = ["ROLE_OUTPUTS", "RoleAgents", "RoleFactory", "checked_roles", "role_problem"]

OutT = TypeVar("OutT", bound=BaseModel)

RoleFactory = Callable[[Model], Any]
"""``(model) -> Agent`` building a role's agent; may return None to use the built-in one."""

ROLE_OUTPUTS: dict[str, type[BaseModel]] = {
    "architect": Design,
    "tester": TestSuite,
    "coder": Changeset,
    "security-reviewer": SecurityReview,
}
"""Role name -> the message type its agent must produce."""


def role_problem(role: str, agent: object) -> str | None:
    """What is wrong with `agent` as the agent for `role`, or None when it will do."""
    wanted = ROLE_OUTPUTS[role]
    if not isinstance(agent, AbstractAgent):
        return f"role '{role}' factory returned {type(agent).__name__}, not a pydantic_ai Agent"
    if agent.output_type is not wanted:
        got = getattr(agent.output_type, "__name__", repr(agent.output_type))
        return f"role '{role}' agent has output type {got}, not {wanted.__name__}"
    return None


class _CheckedRole:
    """A plugin's role factory that reports a failure or a wrong agent once, by plugin name."""

    def __init__(
        self, pm: AssayPluginManager, plugin: str, role: str, factory: Callable[..., Any]
    ) -> None:
        self.pm, self.plugin, self.role, self.factory = pm, plugin, role, factory
        self.broken = False

    def __call__(self, model: Model) -> Any:
        if self.broken:
            return None
        try:
            agent = self.factory(model)
        except Exception as exc:
            return self._skip("hook-error", f"role '{self.role}' factory raised {exc!r}")
        problem = role_problem(self.role, agent)
        return agent if problem is None else self._skip("bad-result", problem)

    def _skip(self, kind: ProblemKind, message: str) -> None:
        self.broken = True  # a non-required plugin warns once; the built-in role takes over
        self.pm.report(self.plugin, kind, message)


def checked_roles(pm: AssayPluginManager) -> dict[str, RoleFactory]:
    """The plugins' role factories by role name, checked; unknown role names are reported."""
    from assay.plugins._registry import offers

    found: dict[str, RoleFactory] = {}
    for offer in offers(pm, "role"):
        if offer.name not in ROLE_OUTPUTS:
            known = ", ".join(ROLE_OUTPUTS)
            pm.report(offer.plugin, "bad-result", f"offers unknown role '{offer.name}' ({known})")
            continue
        found[offer.name] = _CheckedRole(pm, offer.plugin, offer.name, offer.value)
    return found


class RoleAgents:
    """Builds each role's agent: a plugin's override when it offers one, else the built-in."""

    def __init__(self, overrides: Mapping[str, RoleFactory] | None = None) -> None:
        unknown = sorted(set(overrides or {}) - set(ROLE_OUTPUTS))
        if unknown:
            raise UserError(
                f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLE_OUTPUTS)}"
            )
        self.overrides = dict(overrides or {})

    def _build(
        self, role: str, model: Model, builtin: Callable[[Model], Agent[WorkspaceDeps, OutT]]
    ) -> AbstractAgent[WorkspaceDeps, OutT]:
        factory = self.overrides.get(role)
        agent = factory(model) if factory is not None else None
        if agent is None:
            return builtin(model)
        problem = role_problem(role, agent)
        if problem is not None:
            raise UserError(problem)
        return cast("AbstractAgent[WorkspaceDeps, OutT]", agent)

    def architect(self, model: Model) -> AbstractAgent[WorkspaceDeps, Design]:
        """The architect's agent; a plugin's designs are checked as the built-in's are."""
        agent = self._build("architect", model, architect_agent)
        if self.overrides.get("architect") is not None and isinstance(agent, Agent):
            agent.output_validator(check_design)
        return agent

    def tester(self, model: Model) -> AbstractAgent[WorkspaceDeps, TestSuite]:
        """The tester's agent."""
        return self._build("tester", model, tester_agent)

    def coder(self, model: Model) -> AbstractAgent[WorkspaceDeps, Changeset]:
        """The coder's agent."""
        return self._build("coder", model, coder_agent)

    def reviewer(self, model: Model) -> AbstractAgent[WorkspaceDeps, SecurityReview]:
        """The security reviewer's agent."""
        return self._build("security-reviewer", model, reviewer_agent)

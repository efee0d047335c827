"""The LLM judge: scores an observation against a natural-language expectation, k times.

One call per step, as OctopusGarden does, is noisy. This judge samples up to ``samples`` times,
reports the mean and the spread (population standard deviation), and keeps every sample for the
record. The first two samples are asked at once; when they agree (scores within ``agree_within``
points and the same side of ``pass_score``) a third would not change the verdict's side, so the
rest are not asked, and the verdict says how many were (`Verdict.asked` against `Verdict.k`).
It knows nothing about scenario files: the caller renders the request.

This module imports without pydantic-ai (the ``factory`` extra), because `assay validate` and the
scenario runner import it whether or not a judge is configured; building a `Judge` needs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assay._extras import FACTORY, require
from assay.agents.models import build_model
from assay.errors import RunError, UserError
from assay.messages import Judgement

if TYPE_CHECKING:
    from pydantic_ai import Agent
    from pydantic_ai.models import Model
    from pydantic_ai.settings import ModelSettings

    from assay.config import ModelsConfig
    from assay.plugins import AssayPluginManager

__all__ = [
    "DEFAULT_AGREE_WITHIN",
    "DEFAULT_PASS_SCORE",
    "DEFAULT_SAMPLES",
    "INSTRUCTIONS",
    "Judge",
    "JudgeRequest",
    "Verdict",
    "judge_model_from_env",
    "make_judge",
]

DEFAULT_SAMPLES = 3
DEFAULT_AGREE_WITHIN = 10.0
"""Points (of 0-100, so a tenth of the scale) within which two samples agree."""
DEFAULT_PASS_SCORE = 95.0
"""A sample at or above this passes (the scenarios' default threshold)."""
JUDGE_MODEL_ENV = "ASSAY_JUDGE_MODEL"
JUDGE_ENV = "ASSAY_JUDGE"
"""Names a judge offered by a plugin (hook ``assay_judges``) instead of the built-in one."""

INSTRUCTIONS = """\
You are a strict acceptance tester. You are shown one step of a test scenario run against a real
service: the request that was sent (method, path, headers and body, or the command line), the
values earlier steps captured that this step refers to, what was observed (HTTP status, headers
and body, or a command's exit code, stdout and stderr), and the expectation the observation must
meet. Headers whose value changes on every response (Date, Server, ...) are shown as present
without their value; credentials are shown as the scenario wrote them, e.g. `Bearer {api_key}`.

Score from 0 to 100 how well the observation meets the expectation:
- 100: every part of the expectation is met.
- 50-99: mostly met; list each shortfall.
- 0-49: an essential part is not met.
Judge only what was observed; do not assume anything that is not shown. Checks listed as already
verified need not be re-examined. Put each shortfall, one per entry, in `failures`, and a short
explanation in `reasoning`.
"""


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """What the judge is asked about one step."""

    expectation: str
    """The part of the expectation no rule could check."""
    observation: str
    """The rendered observation (request line, status, headers, body; or command and output)."""
    step: str = ""
    """The step's description."""
    scenario: str = ""
    """The scenario's description."""
    verified: tuple[str, ...] = ()
    """Deterministic checks that already passed, for context."""
    request: str = ""
    """What was sent, after variable substitution: request line, headers and body, or the
    command line; so "empty name" and "missing name" do not look alike."""
    variables: tuple[tuple[str, str], ...] = ()
    """Captured values (name, rendered value) the expectation or the step refers to."""

    def prompt(self) -> str:
        """The user prompt sent to the model."""
        verified = "\n".join(f"- {v}" for v in self.verified) or "- (none)"
        sent = f"## Request sent\n{self.request}\n\n" if self.request else ""
        captured = ""
        if self.variables:
            listed = "\n".join(f"- {name} = {value}" for name, value in self.variables)
            captured = f"## Values captured by earlier steps\n{listed}\n\n"
        return (
            f"Scenario: {self.scenario}\nStep: {self.step}\n\n{sent}{captured}"
            f"## Observation\n{self.observation}\n\n"
            f"## Already verified by rules\n{verified}\n\n"
            f"## Expectation to judge\n{self.expectation}\n"
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The k samples for one step, their mean and spread."""

    samples: tuple[Judgement, ...]
    model: str
    temperature: float | None = None
    failures: tuple[str, ...] = field(default=())
    k: int = 0
    """The samples the judge would ask at most; 0: as many as were asked (no early stop)."""

    @property
    def asked(self) -> int:
        """How many samples were asked."""
        return len(self.samples)

    @property
    def stopped_early(self) -> bool:
        """True when the first samples agreed and the rest of the k were not asked."""
        return self.asked < self.k

    @property
    def mean(self) -> float:
        """Mean score of the samples."""
        return statistics.fmean(s.score for s in self.samples)

    @property
    def spread(self) -> float:
        """Population standard deviation of the sample scores (0 for one sample)."""
        return statistics.pstdev(s.score for s in self.samples)

    @property
    def low(self) -> float:
        """Lowest sample score."""
        return min(s.score for s in self.samples)

    @property
    def high(self) -> float:
        """Highest sample score."""
        return max(s.score for s in self.samples)


class Judge:
    """A pydantic-ai agent with ``output_type=Judgement``, sampled up to ``samples`` times per
    step; `agree_within` None asks all of them every time."""

    def __init__(
        self,
        model: Model,
        *,
        samples: int = DEFAULT_SAMPLES,
        temperature: float | None = None,
        agree_within: float | None = DEFAULT_AGREE_WITHIN,
        pass_score: float = DEFAULT_PASS_SCORE,
    ) -> None:
        if samples < 1:
            raise UserError(f"judge samples must be at least 1, got {samples}")
        if temperature is not None and not 0 <= temperature <= 2:
            raise UserError(f"judge temperature must be between 0 and 2, got {temperature}")
        if agree_within is not None and not 0 <= agree_within <= 100:
            raise UserError(f"judge agree_within must be between 0 and 100, got {agree_within}")
        require("pydantic_ai", FACTORY, "the LLM judge")
        from pydantic_ai import Agent

        self.model = model
        self.samples = samples
        self.temperature = temperature
        self.agree_within = agree_within
        self.pass_score = pass_score
        settings: ModelSettings = {}
        if temperature is not None:
            settings["temperature"] = temperature
        self._settings = settings
        self._agent: Agent[None, Judgement] = Agent(
            model, output_type=Judgement, instructions=INSTRUCTIONS, name="judge", retries=2
        )

    @property
    def model_name(self) -> str:
        """The model's id, for reports."""
        return f"{self.model.system}:{self.model.model_name}"

    def cache_key(self, request: JudgeRequest) -> str:
        """A digest of everything that decides the verdict: the judge (its class, model, samples,
        temperature and instructions) and the rendered prompt. Equal keys, equal question."""
        identity = [
            type(self).__qualname__, self.model_name, self.samples, self.temperature,
            self.agree_within, self.pass_score, INSTRUCTIONS, request.prompt(),
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    async def _one(self, prompt: str) -> Judgement:
        from pydantic_ai.exceptions import AgentRunError, ModelAPIError, ModelRequestTimeout
        from pydantic_ai.exceptions import UserError as PydanticAIUserError

        try:
            result = await self._agent.run(prompt, model_settings=self._settings)
        except ModelRequestTimeout as exc:
            raise RunError(
                f"the judge model {self.model_name} failed: {exc} (the deadline is "
                "[tool.assay.models] timeout_s)"
            ) from exc
        except (AgentRunError, ModelAPIError, PydanticAIUserError) as exc:
            raise RunError(f"the judge model {self.model_name} failed: {exc}") from exc
        return result.output

    def agree(self, a: Judgement, b: Judgement) -> bool:
        """Whether two samples agree: scores within `agree_within` and the same side of
        `pass_score` (two scores 94 and 96 are close but one fails: not agreeing)."""
        if self.agree_within is None:
            return False
        same_side = (a.score >= self.pass_score) == (b.score >= self.pass_score)
        return same_side and abs(a.score - b.score) <= self.agree_within

    async def judge(self, request: JudgeRequest) -> Verdict:
        """Ask the first two samples concurrently; the rest, concurrently, only when those two
        disagree. Aggregate what was asked."""
        prompt = request.prompt()
        first = self.samples if self.agree_within is None else min(self.samples, 2)
        samples = list(await asyncio.gather(*(self._one(prompt) for _ in range(first))))
        if self.samples > first and not self.agree(samples[0], samples[1]):
            rest = self.samples - first
            samples += await asyncio.gather(*(self._one(prompt) for _ in range(rest)))
        failures = tuple(dict.fromkeys(f for s in samples for f in s.failures))
        return Verdict(tuple(samples), self.model_name, self.temperature, failures, self.samples)


def judge_model_from_env(
    spec: str | None,
    *,
    env: Mapping[str, str],
    plugins: AssayPluginManager,
    models: ModelsConfig,
    base_url: str | None = None,
) -> Model | None:
    """The judge's model from `spec` or ``ASSAY_JUDGE_MODEL``; None when neither is set.

    A ``<provider>:`` that is not built in comes from `plugins`, the command's manager (so
    ``plugins.block`` holds on the judge path too); `models` gives the request deadline and
    retries.
    """
    chosen = spec or env.get(JUDGE_MODEL_ENV)
    if not chosen:
        return None
    return build_model(
        chosen, env=env, plugins=plugins, base_url=base_url, timeout_s=models.timeout_s,
        retries=models.retries,
    )  # fmt: skip


def make_judge(
    name: str | None,
    model: Model | None,
    *,
    samples: int = DEFAULT_SAMPLES,
    temperature: float | None = None,
    agree_within: float | None = DEFAULT_AGREE_WITHIN,
    pass_score: float = DEFAULT_PASS_SCORE,
    plugins: AssayPluginManager,
) -> Judge | None:
    """The scenario judge: the built-in `Judge` on `model`, or the plugin judge called `name`.

    A plugin judge factory (hook ``assay_judges``, an `assay.plugins.JudgeFactory`) is called as
    ``factory(model=model, samples=samples, temperature=temperature)`` (`model` may be None) and
    must return a `Judge` (a subclass may override `Judge.judge`); one that raises or returns
    anything else is a `PluginFailure` naming the plugin. None when there is neither a name nor
    a model. `agree_within` and `pass_score` (early stop) are the built-in judge's; a plugin's
    `Judge.judge` decides its own sampling.
    """
    if not name:
        if model is None:
            return None
        return Judge(
            model, samples=samples, temperature=temperature, agree_within=agree_within,
            pass_score=pass_score,
        )  # fmt: skip
    from assay.plugins import judges

    offered = judges(plugins)
    factory = offered.get(name)
    if factory is None:
        known = ", ".join(sorted(offered)) or "none installed"
        raise UserError(f"no judge named {name!r} is offered by a plugin ({known})")
    # guarded: what it raises, or anything but a Judge, is a PluginFailure naming the plugin
    judge = factory(model=model, samples=samples, temperature=temperature)
    if not isinstance(judge, Judge):
        raise factory.wrong(judge, "an assay.agents.judge.Judge")
    return judge

"""Holdout scenarios: the model, loader and linter, step runner, deterministic checks, scoring.

Nothing in `assay.agents` or `assay.factory` may import this package: generating roles never
see a scenario.
"""

from __future__ import annotations

from assay.scenarios.loader import LoadResult, ScenarioLoadError, load_dir, load_file
from assay.scenarios.model import Scenario, Step
from assay.scenarios.problems import Problem
from assay.scenarios.results import ScenarioResult, StepResult, StepStatus, ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner

__all__ = [
    "LoadResult",
    "Problem",
    "RunOptions",
    "Scenario",
    "ScenarioLoadError",
    "ScenarioResult",
    "ScenarioRunner",
    "Step",
    "StepResult",
    "StepStatus",
    "ValidationReport",
    "load_dir",
    "load_file",
]

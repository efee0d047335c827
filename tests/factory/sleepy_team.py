"""scripted_app's team, with a tester whose test starts a grandchild that sleeps for minutes
(``$ASSAY_SIGNAL_TOKEN`` in its argv) and writes a marker once it runs: `assay run`'s pytest gate
is then busy when a test signals it.

Importable by path, as ``ASSAY_TESTING_MODELS=sleepy_team:models`` (PYTHONPATH=tests/factory).
"""

from __future__ import annotations

import importlib
import os

from pydantic_ai.models import Model

from assay.messages import TestFile, TestSuite
from assay.testing import scripted

SLEEPY_TEST = """import pathlib, subprocess, sys


def test_waits() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{token}"])
    pathlib.Path("signal-marker").write_text(str(child.pid))
    child.wait()
"""
"""Generated tests run in a sandbox: the grandchild is known by the token in its argv, and the
marker is written into the workspace (the sandbox's working folder)."""


def models() -> dict[str, Model]:
    """The team: the entry point for ASSAY_TESTING_MODELS."""
    code = SLEEPY_TEST.replace("{token}", os.environ["ASSAY_SIGNAL_TOKEN"])
    suite = TestSuite(files=[TestFile(path="tests/test_sleepy.py", content=code)], rationale="t")
    # beside this file on PYTHONPATH, as ASSAY_TESTING_MODELS finds this module
    team: dict[str, Model] = importlib.import_module("scripted_app").models()
    team["tester"] = scripted(lambda _: suite, name="tester")
    return team

"""The real holdout path: the CLI's scenario validator starts the generated service and runs the
scenario files; the coder learns only what the leak level allows, and the canary written in the
scenario file never reaches a recorded prompt.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from assay.commands._holdout import ScenarioValidator
from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.messages import Changeset, Design, FileChange, SecurityReview, Spec, TestFile, TestSuite
from assay.scenarios.loader import load_dir
from assay.testing import scripted

CANARY = "CANARY-5b0c2e77-held-out"

SCENARIO = f"""\
id: health
description: The service says it is healthy ({CANARY})
type: api
weight: 1
steps:
  - description: Ask for health ({CANARY})
    request: {{method: GET, path: /health}}
    assert:
      status: 200
      json: [{{path: $.status, equals: "ok"}}]
"""

SERVER = '''"""A health endpoint."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    """Answers GET /health."""

    def do_GET(self) -> None:  # noqa: N802
        """Reply with the status."""
        body = json.dumps({{"status": "{status}"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    """Serve on $PORT."""
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
'''

DESIGN = Design(summary="Health service.", package="svc", start_command="python -m svc",
                file_plan=["src/svc/__init__.py", "src/svc/__main__.py"])  # fmt: skip
SUITE = TestSuite(files=[TestFile(path="tests/test_svc.py",
                                  content="import svc\n\n\ndef test_import() -> None:\n"
                                  "    assert svc.__doc__\n")])  # fmt: skip


def coder(prompt: str) -> Changeset:
    fixed = re.search(r"<feedback>.*health.*</feedback>", prompt, re.DOTALL) is not None
    return Changeset(
        files=[FileChange(path="src/svc/__init__.py", content='"""Health service."""\n'),
               FileChange(path="src/svc/__main__.py",
                          content=SERVER.format(status="ok" if fixed else "starting"))],
        rationale="serve health",
    )  # fmt: skip


async def test_scenarios_drive_the_loop_without_leaking(tmp_path: Path) -> None:
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "health.yaml").write_text(SCENARIO)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=20, backend="local"
    )  # tests/integration runs the loop's service under bwrap
    models = RoleModels(
        architect=scripted(lambda _: DESIGN), tester=scripted(lambda _: SUITE),
        coder=scripted(coder), reviewer=scripted(lambda _: SecurityReview(verdict="approve")),
        labels={},
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=Spec(name="svc", body="# svc\n\nServes health.\n"),
        settings=Settings(factory=FactoryConfig(max_iterations=3)), models=models,
        gates=[RuffGate()], validator=validator,
    )  # fmt: skip
    outcome = await factory.run()
    assert outcome.outcome == "converged", outcome
    assert outcome.iterations == 2
    with Ledger.open(run_dir, create=False) as ledger:
        prompts = [ledger.get_blob(e.payload["prompt_blob"]).decode()
                   for e in ledger.events(kind="model.request")]  # fmt: skip
        results = [e.payload for e in ledger.events(kind="scenario.result")]
    assert [r["score"] for r in results] == [0.0, 100.0]
    assert not any(CANARY in p for p in prompts)
    second_coder = json.dumps(json.loads(prompts[-2]))  # coder of iteration 2, then the reviewer
    feedback = re.search(r"<feedback>(.*?)</feedback>", second_coder, re.DOTALL)
    assert feedback is not None
    assert "health (observed: 200" in feedback.group(1)  # the title and observed status only


VERSION = """\
id: version
description: The service names its version
tier: 2
steps:
  - description: Ask for the version
    request: {method: GET, path: /version}
    assert:
      status: 200
      json: [{path: $.version, equals: "1.0"}]
"""


async def test_a_tier_runs_only_the_scenarios_up_to_it(tmp_path: Path) -> None:
    scen = tmp_path / "scenarios"
    scen.mkdir()
    (scen / "health.yaml").write_text(SCENARIO)  # no tier: tier 1
    (scen / "version.yaml").write_text(VERSION)
    loaded = load_dir(scen)
    loaded.raise_for_errors()
    validator = ScenarioValidator(
        loaded.scenarios, judge=None, threshold=95, start_timeout=20, backend="local"
    )
    workspace = tmp_path / "run" / "holdout"
    for change in coder("<feedback>health</feedback>").files:
        (workspace / change.path).parent.mkdir(parents=True, exist_ok=True)
        assert change.content is not None  # the scripted coder writes whole files
        (workspace / change.path).write_text(change.content)
    first = await validator(workspace, DESIGN, 1, tier=1)
    assert (first.tier, first.tiers, first.satisfaction) == (1, [1, 2], 100.0)
    assert [(s.id, s.tier, s.passed) for s in first.scenarios] == [("health", 1, True)]
    both = await validator(workspace, DESIGN, 1, tier=2)
    assert both.tier == 2 and both.satisfaction < 95  # the service has no version to give
    assert [(s.id, s.tier, s.passed) for s in both.scenarios] == [
        ("health", 1, True), ("version", 2, False),
    ]  # fmt: skip
    everything = await validator(workspace, DESIGN, 1)
    assert everything.tier is None and {s.id for s in everything.scenarios} == {"health", "version"}

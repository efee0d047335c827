"""A scripted team for `test_docker_as_root`: a tiny HTTP service built in two iterations.

Iteration 1's service answers the scenario wrongly, so the loop goes on; iteration 2's is right.
The first time the coder is asked for iteration 2 it kills its own process (``kill -9``), an
interruption that lands after sandboxed steps (the pytest gate, the holdout service) have run on
the workspace; `assay resume` then finishes the run. ``DOCKER_ROOT_TEAM_STATE`` names the folder
that remembers the kill across processes.

Importable by path so a subprocess can use it via ASSAY_TESTING_MODELS=docker_root_team:models.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from pydantic_ai.models import Model

from assay.messages import Changeset, Design, FileChange, SecurityReview, TestFile, TestSuite
from assay.testing import scripted

STATE_ENV = "DOCKER_ROOT_TEAM_STATE"
KILLED_MARKER = "killed-once"

# The service reports where it runs, writes a file into the workspace when it starts (so the
# container leaves files behind) and, in iteration 2, answers the scenario correctly.
SERVER = '''"""Says where it runs."""

import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    """Answers every GET."""

    def do_GET(self) -> None:  # noqa: N802
        """Reply with the working folder and the version."""
        body = json.dumps({"cwd": os.getcwd(), "version": VERSION})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())


VERSION = __VERSION__


def main() -> None:
    """Leave a trace in the workspace, then serve on $PORT."""
    Path("var/served").mkdir(parents=True, exist_ok=True)
    Path("var/served/started.txt").write_text(str(os.getuid()))
    HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()


if __name__ == "__main__":
    main()
'''

# Runs in the docker sandbox (the pytest gate): writes files and a folder of its own into the
# workspace, as the container user.
TEST = """import os
from pathlib import Path

import svc.__main__ as app


def test_runs_inside_the_sandbox() -> None:
    assert app.Handler.do_GET.__doc__
    assert os.getcwd() == "/workspace"
    assert os.getuid() != 0
    Path("var/from-tests").mkdir(parents=True, exist_ok=True)
    Path("var/from-tests/uid.txt").write_text(str(os.getuid()))
"""

DESIGN = Design(
    summary="Where service.",
    package="svc",
    start_command="python -m svc",
    file_plan=["src/svc/__init__.py", "src/svc/__main__.py"],
)
SUITE = TestSuite(files=[TestFile(path="tests/test_svc.py", content=TEST)], rationale="where")


def _changes(version: int) -> Changeset:
    return Changeset(
        files=[
            FileChange(path="src/svc/__init__.py", content='"""Where service."""\n'),
            FileChange(
                path="src/svc/__main__.py", content=SERVER.replace("__VERSION__", str(version))
            ),
        ],
        rationale=f"serve where, version {version}",
    )


def _code(prompt: str) -> Changeset:
    found = re.search(r"Iteration (\d+)", prompt)
    iteration = int(found.group(1)) if found else 1
    state = Path(os.environ[STATE_ENV])
    if iteration >= 2 and not (state / KILLED_MARKER).exists():
        (state / KILLED_MARKER).write_text("the coder killed its own process here\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return _changes(iteration)


def models() -> dict[str, Model]:
    """The team: the entry point for ASSAY_TESTING_MODELS."""
    return {
        "architect": scripted(lambda _: DESIGN, name="architect"),
        "tester": scripted(lambda _: SUITE, name="tester"),
        "coder": scripted(_code, name="coder"),
        "security-reviewer": scripted(
            lambda _: SecurityReview(verdict="approve", summary="ok"), name="reviewer"
        ),
    }

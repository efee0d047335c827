"""Issue 17, point 2: `assay interview` as a model played (tests/replays/interview-url-shortener).

An LLM played the interviewer through the bridge (../shared/tools) while a person answered its
six questions (answers.txt): one round of questions, then a draft. The replay serves those two
answers over real HTTP to the real CLI, fed the same answers on stdin; the spec it writes must
parse and its eleven scenarios lint clean under --strict.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from assay.scenarios.loader import load_dir
from assay.spec import load_spec
from assay.testing.replay import ReplayServer, load_conversation, replay_env

FIXTURE = Path(__file__).parent.parent / "replays" / "interview-url-shortener"
ABOUT = (
    "A small HTTP service that shortens URLs: create a short code for a long URL, redirect by "
    "code, and show click counts."
)


def test_the_played_interview_writes_a_spec_and_scenarios_that_lint_clean(tmp_path: Path) -> None:
    server = ReplayServer(load_conversation(FIXTURE))
    answers = (FIXTURE / "answers.txt").read_text()
    with server.running() as base_url:
        done = subprocess.run(
            [sys.executable, "-m", "assay.cli", "interview", "--about", ABOUT,
             "--out", "spec.md", "--scenarios", "scenarios"],
            cwd=tmp_path, env=replay_env(base_url, home=tmp_path / "home"), input=answers,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    assert server.mismatches == [], done.stdout + done.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.served_counts() == {"gen": 2}
    assert done.stdout.count("why:") == 6  # the six questions, each saying why it matters
    spec = load_spec(tmp_path / "spec.md")
    assert spec.name == "url-shortener"
    assert "POST /api/links" in spec.body and "409" in spec.body
    loaded = load_dir(tmp_path / "scenarios")
    assert loaded.errors == [] and loaded.warnings == []
    assert len(loaded.scenarios) == 11

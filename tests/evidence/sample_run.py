"""A plausible two-iteration run written into a real ledger, with real gate reports from ruff.

Used by the evidence tests, the screenshot script and as a worked example of the event shapes
documented in `assay.ledger.kinds`.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

from assay.config import Settings
from assay.factory import events as ev
from assay.factory.stop import score_iteration
from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.gates.base import GateReport
from assay.gates.ruff import RuffGate
from assay.gates.runner import run_gates
from assay.ledger import Ledger, Signer
from assay.messages import (
    Design,
    Envelope,
    SecurityFinding,
    SecurityReview,
    Spec,
    content_hash,
)

BAD = 'import os\n\n\ndef hello() -> str:\n    return "hi"\n'
GOOD = 'def hello() -> str:\n    """Say hello."""\n    return "hi"\n'
PYPROJECT = """[project]
name = "hello-api"
version = "0.1.0"
dependencies = ["fastapi==0.115.0", "uvicorn>=0.30", "pydantic>=2,<3"]
"""
MODELS = {"architect": "test:architect", "tester": "test:tester", "coder": "test:coder"}


def _git(ws: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(ws), "-c", "user.name=assay", "-c", "user.email=assay@localhost", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def _gates(ws: Path) -> GateReport:
    return asyncio.run(run_gates(ws, Settings(), [RuffGate()]))


def _envelope(run_id: str, iteration: int, sender: str, model: str, message: Any) -> dict[str, Any]:
    env = Envelope(
        run_id=run_id, iteration=iteration, sender=sender, model=model,  # type: ignore[arg-type]
        content_hash=content_hash(message), message=message,
    )  # fmt: skip
    return ev.dump(env)


def _append(ledger: Ledger, payload: ev.EventPayload, *, step: str | None = None) -> None:
    ledger.append(payload.kind, ev.dump(payload), step=step)


def _model_call(ledger: Ledger, role: str, iteration: int, prompt: str, answer: str) -> None:
    model = MODELS.get(role, "test:reviewer")
    digest = ledger.put_blob(prompt.encode())
    _append(ledger, ev.ModelRequested(
        role=role, model=model, iteration=iteration, prompt_digest=digest, prompt_blob=digest,
        messages=1,
    ))  # fmt: skip
    _append(ledger, ev.ModelResponded(
        role=role, model=model, iteration=iteration, prompt_digest=digest,
        tokens_in=1200 + 10 * len(prompt), tokens_out=300, cost_usd=0.0042,
        response_blob=ledger.put_blob(answer.encode()),
    ))  # fmt: skip


ALICE_UID = 4242
"""The OS account the sample run was started from: not the account the tests run as."""


def write_sample_run(
    run_dir: Path,
    signer: Signer,
    *,
    approval_required: bool = True,
    finish: bool = True,
    outcome: str = "converged",
    starter_uid: int = ALICE_UID,
    approval: dict[str, Any] | None = None,
    seal: bool = True,
    database: str | None = None,
) -> Path:
    """Write the run into `run_dir` (ledger, blobs, workspace) and seal it; returns `run_dir`.

    `approval` replaces the recorded ``[approval]`` settings (``required`` from
    `approval_required`, ``min_approvals`` 1, unless given there).
    """
    ws = run_dir / "workspace"
    (ws / "src" / "hello_api").mkdir(parents=True)
    (ws / "pyproject.toml").write_text(PYPROJECT)
    (ws / "README.md").write_text("# hello-api\n")
    (ws / ".gitignore").write_text(".assay/\n")
    _git(ws, "init", "-q")
    settings = Settings().model_dump(mode="json")
    settings["approval"] = {"required": approval_required, "min_approvals": 1, **(approval or {})}
    with Ledger.open(run_dir, database=database) as ledger:
        run_id = ledger.run_id
        spec = Spec(name="hello-api", title="Hello API", body="GET /hello returns hi.")
        _append(ledger, ev.RunStarted(
            spec_digest=content_hash(spec), spec_title=spec.title, spec_name=spec.name,
            user="alice", uid=starter_uid, signing_key=signer.key_id, models=MODELS,
            leak_level="titles", settings=settings, assay_version="0.1.0",
        ), step="run.started")  # fmt: skip
        _model_call(ledger, "architect", 0, "Design the service for: " + spec.body, "{design}")
        design = Design(summary="One endpoint.", package="hello_api", threat_model=["none"])
        ledger.append("message", _envelope(run_id, 0, "architect", MODELS["architect"], design))
        for iteration, code in ((1, BAD), (2, GOOD)):
            _model_call(
                ledger, "coder", iteration, f"Write the code (iteration {iteration}).", code
            )
            (ws / "src" / "hello_api" / "app.py").write_text(code)
            _git(ws, "add", "-A")
            _git(ws, "commit", "-q", "-m", f"iteration {iteration}")
            commit = _git(ws, "rev-parse", "HEAD")
            _append(ledger, ev.WorkspaceCommitted(
                iteration=iteration, commit=commit, tree=_git(ws, "rev-parse", "HEAD^{tree}"),
                message=f"iteration {iteration}", rejected=[],
            ), step=f"iter-{iteration}/commit")  # fmt: skip
            report = _gates(ws)
            _append(ledger, ev.GatesRan(iteration=iteration, report=report),
                    step=f"iter-{iteration}/gates")  # fmt: skip
            review = SecurityReview(
                verdict="approve" if iteration == 2 else "reject",
                findings=[]
                if iteration == 2
                else [SecurityFinding(cwe="CWE-1164", severity="low", file="src/hello_api/app.py",
                                      line=1, message="unused import of os")],
                summary="reviewed app.py",
            )  # fmt: skip
            _model_call(ledger, "security-reviewer", iteration, "Review app.py", "{review}")
            ledger.append(
                "message",
                _envelope(run_id, iteration, "security-reviewer", "test:reviewer", review),
            )
            score = 60.0 if iteration == 1 else 100.0
            _append(ledger, ev.SecurityReviewed(
                iteration=iteration, verdict=review.verdict, summary=review.summary,
                findings=review.findings, model="test:reviewer",
            ), step=f"iter-{iteration}/review")  # fmt: skip
            validation = ValidationResult(
                satisfaction=score,
                scenarios=[
                    ScenarioOutcome(id="hello", title="hello", passed=True, score=100.0,
                                    observed="200 OK"),
                    ScenarioOutcome(id="not-found", title="not-found", passed=iteration == 2,
                                    score=2 * score - 100, observed="expected 404"),
                ],
                weakest="" if iteration == 2 else "not-found: expected 404, got 200",
            )  # fmt: skip
            _append(ledger, ev.ScenariosRan(
                iteration=iteration, score=score, leak_level="titles", result=validation,
                scenarios=[
                    ev.ScenarioLine(id="hello", passed=True, score=100.0, detail="200 OK"),
                    ev.ScenarioLine(id="not-found", passed=iteration == 2, score=2 * score - 100,
                                    detail="expected 404"),
                ],
            ), step=f"iter-{iteration}/scenarios")  # fmt: skip
            if iteration == 1:
                _append(ledger, ev.EditRejected(
                    iteration=1, role="coder", path="tests/test_app.py",
                    reason="tests are protected",
                ))  # fmt: skip
            scored = score_iteration(report, score, threshold=95.0)
            _append(ledger, ev.LoopDecided(
                iteration=iteration, decision="continue" if iteration == 1 else "converged",
                reason="lint and scenario failures" if iteration == 1 else "all gates pass",
                scores=scored, best_iteration=iteration, best_score=scored.score,
            ), step=f"iter-{iteration}/decision")  # fmt: skip
        if finish:
            _append(ledger, ev.RunFinished(
                outcome=outcome, iterations=2, best_iteration=2, best_score=100.0,
                workspace_commit=_git(ws, "rev-parse", "HEAD"),
            ), step="finished")  # fmt: skip
        if seal:
            ledger.checkpoint(signer)
    return run_dir

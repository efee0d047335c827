"""An in-toto Statement v1 with a SLSA provenance v1 predicate over the workspace artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import assay
from assay.errors import UserError
from assay.evidence.summary import RunSummary
from assay.processes import TOOL_OUTPUT_BYTES, Command, build_env, run_blocking

__all__ = [
    "BUILDER_ID",
    "BUILD_TYPE",
    "SLSA_PROVENANCE_V1",
    "STATEMENT_V1",
    "provenance_statement",
    "workspace_files",
]

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/assay-dev/assay/buildtypes/factory-run/v1"
BUILDER_ID = "https://github.com/assay-dev/assay/builder/v1"


def workspace_files(workspace: Path) -> list[str]:
    """The workspace's artifacts: git-tracked files in a repository, else every file but .git."""
    if not workspace.is_dir():
        raise UserError(f"no workspace at {workspace}: nothing to attest")
    if (workspace / ".git").exists():
        argv = ["git", "-C", str(workspace), "ls-files", "-z"]
        env = build_env(trusted=True)
        out = run_blocking(Command(argv, None, env, 600, output_bytes=TOOL_OUTPUT_BYTES))
        if out.ok and not out.stdout_truncated:
            names = [n for n in out.stdout.split("\0") if n]
            return sorted(n for n in names if (workspace / n).is_file())
    return sorted(
        p.relative_to(workspace).as_posix()
        for p in workspace.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(workspace).parts
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_statement(
    s: RunSummary, workspace: Path, *, ledger_digest: str, head_seq: int
) -> dict[str, Any]:
    """The Statement: subjects are the workspace files; the predicate ties them to the run."""
    subjects = [
        {"name": name, "digest": {"sha256": _sha256(workspace / name)}}
        for name in workspace_files(workspace)
    ]
    if not subjects:
        raise UserError(f"the workspace {workspace} holds no files to attest")
    metadata: dict[str, Any] = {"invocationId": s.run_id}
    if s.started:
        metadata["startedOn"] = s.started
    if s.finished:
        metadata["finishedOn"] = s.finished
    external: dict[str, Any] = {
        "spec": {"title": s.spec_title, "digest": {"sha256": s.spec_digest}}
    }
    if s.settings:
        external["policy"] = s.settings
    return {
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {
                    "models": s.models, "leakLevel": s.leak_level, "outcome": s.outcome,
                },
                "resolvedDependencies": [
                    {
                        "uri": f"assay-ledger:{s.run_id}",
                        "digest": {"sha256": s.head},
                        "annotations": {"events": s.events},
                    }
                ],
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"assay": s.assay_version or assay.__version__},
                },
                "metadata": metadata,
                "byproducts": [
                    {
                        "name": "ledger.jsonl", "digest": {"sha256": ledger_digest},
                        "annotations": {"headSeq": head_seq},
                    }
                ],
            },
        },
    }  # fmt: skip

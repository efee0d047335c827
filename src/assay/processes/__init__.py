"""The process seam: every host process assay starts goes through here.

    from assay.processes import Command, build_env, run

    result = await run(Command(argv, cwd=root, env=build_env(explicit={"CI": "1"}), timeout=60))
    result.exit_code, result.stdout, result.stdout_truncated, result.killed, result.duration_s

- `runner`: `Command` (what to run), `run` (to completion), `run_blocking`, `Process` (a
  service: `alive`, `stop`), and the one result type `RunResult` with `KilledReason`.
- `env`: `build_env`, the one environment builder (`BASE_ENV`, the secret patterns, ``trusted``
  for assay's own tools).
- `output`: `Capped`, output kept up to a limit as its beginning and its end.
- `group`: ending a session leader together with its whole process group.

Gate tools (`assay.gates._tool.run_tool`), exec steps (`assay.scenarios.executor`), the
``bwrap`` and ``local`` sandbox backends, and the uv, pip and git calls of `assay.deps`,
`assay.factory.git` and `assay.evidence.provenance` are thin callers of `run`, `run_blocking`
and `Process`. The docker backend runs no host process (it drives containers through the
Engine API) but returns the same `RunResult`, with output kept in `Capped`.
"""

from assay.processes.env import BASE_ENV, SECRET_PATTERNS, build_env, is_secret, search_path
from assay.processes.group import GRACE_S, end_group, group_alive, signal_group
from assay.processes.output import Capped
from assay.processes.runner import (
    HOST,
    OUTPUT_BYTES,
    TOOL_OUTPUT_BYTES,
    Command,
    KilledReason,
    Process,
    RunResult,
    run,
    run_blocking,
)

__all__ = [
    "BASE_ENV",
    "GRACE_S",
    "HOST",
    "OUTPUT_BYTES",
    "SECRET_PATTERNS",
    "TOOL_OUTPUT_BYTES",
    "Capped",
    "Command",
    "KilledReason",
    "Process",
    "RunResult",
    "build_env",
    "end_group",
    "group_alive",
    "is_secret",
    "run",
    "run_blocking",
    "search_path",
    "signal_group",
]

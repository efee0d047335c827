"""Sandboxes for generated code: bubblewrap, Docker-API (Docker or Podman) and local backends.

The API other parts of assay use::

    from assay.sandbox import Limits, open_sandbox

    sandbox = open_sandbox(workspace, settings.sandbox, regulated=settings.regulated)
    result = await sandbox.run(["python3", "-m", "pytest", "-q"], cwd=".", env={"CI": "1"},
                               stdin=None, limits=Limits(timeout_s=120))
    result.exit_code, result.stdout, result.stdout_truncated, result.killed, result.duration_s

    async with await sandbox.serve(["python3", "app.py"], port=8080) as service:
        await service.wait_ready("/health")
        async with service.async_client() as client:   # or service.transport() for httpx
            response = await client.get("/items")
    service.result                                      # its RunResult once stopped

    sandbox.copy_out(["dist", "report.xml"], dest)      # refuses symlinks leaving the workspace

`run` and `serve` are coroutines (wrap with ``asyncio.run`` from sync code). Inside, the workspace
is ``/workspace`` (bwrap, docker) and the only writable place besides a private ``/tmp``; there is
no network; the environment is `BASE_ENV` plus the allow-list, never a secret-looking variable.
`open_sandbox` raises `SandboxUnavailable` (a `UserError`) naming what to install when no
backend works, and a backend's engine failing mid-run is a `SandboxError` (a `RunError`)
naming the engine and what it said. See docs/sandbox.md.
"""

from assay.errors import SandboxError
from assay.sandbox.base import (
    BASE_ENV,
    WORKSPACE,
    KilledReason,
    Limits,
    RunResult,
    Sandbox,
    SandboxUnavailable,
    build_env,
    copy_out,
)
from assay.sandbox.select import backend_problems, limits_from, open_sandbox
from assay.sandbox.serve import Service

__all__ = [
    "BASE_ENV",
    "WORKSPACE",
    "KilledReason",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "Service",
    "backend_problems",
    "build_env",
    "copy_out",
    "limits_from",
    "open_sandbox",
]

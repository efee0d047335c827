"""Choosing and opening a backend from settings: ``auto`` is the strongest one available.

A plugin backend (hook ``assay_sandbox_backends``) is used by name only; its factory is
called as ``factory(workspace, config, regulated=...)`` and returns a `Sandbox`.

Order of strength: ``docker`` (separate root filesystem, non-root user, no capabilities,
seccomp, cgroup limits) when its API answers and the image exists, then ``bwrap`` (namespaces
plus cgroup limits on the host's read-only /usr). ``local`` is never chosen automatically.
"""

from __future__ import annotations

from pathlib import Path

from assay.config import SandboxConfig
from assay.sandbox.base import Limits, Sandbox, SandboxUnavailable
from assay.sandbox.bwrap import BwrapSandbox, bwrap_problem
from assay.sandbox.local import LocalSandbox

__all__ = ["backend_problems", "limits_from", "open_sandbox"]


def limits_from(config: SandboxConfig) -> Limits:
    """The default `Limits` a sandbox section describes."""
    return Limits(
        timeout_s=config.timeout_s,
        memory_mb=config.memory_mb,
        pids=config.pids,
        cpus=config.cpus,
        output_bytes=config.output_bytes,
    )


def backend_problems(config: SandboxConfig | None = None) -> dict[str, str | None]:
    """Each isolating backend -> None when usable here, else what is missing."""
    from assay.sandbox.docker import docker_problem

    cfg = config or SandboxConfig()
    return {
        "docker": docker_problem(cfg.image, cfg.docker_host),
        "bwrap": bwrap_problem(),
    }


def open_sandbox(
    workspace: Path,
    config: SandboxConfig | None = None,
    *,
    regulated: bool = False,
    backend: str | None = None,
) -> Sandbox:
    """A sandbox on `workspace` as configured; `backend` overrides the configured name.

    Raises `SandboxUnavailable` naming what to install when nothing suitable is available, and
    `UserError` for ``local`` under a regulated policy.
    """
    cfg = config or SandboxConfig()
    name = backend or cfg.backend
    limits = limits_from(cfg)
    ro_paths = [Path(p) for p in cfg.ro_paths]
    if name == "auto":
        problems = backend_problems(cfg)
        if problems["docker"] is None:
            name = "docker"
        elif problems["bwrap"] is None:
            name = "bwrap"
        else:
            raise SandboxUnavailable(
                "no sandbox backend is available. docker: "
                f"{problems['docker']}. bwrap: {problems['bwrap']}. Install bubblewrap "
                "(apt-get install bubblewrap), or start Docker or Podman and run "
                "`assay sandbox build-image`."
            )
    if name == "docker":
        from assay.sandbox.docker import DockerSandbox

        return DockerSandbox(
            workspace,
            limits=limits,
            env_allow=cfg.env_allow,
            image=cfg.image,
            base_url=cfg.docker_host,
        )
    if name == "bwrap":
        return BwrapSandbox(workspace, limits=limits, env_allow=cfg.env_allow, ro_paths=ro_paths)
    if name == "local":
        return LocalSandbox(workspace, limits=limits, env_allow=cfg.env_allow, regulated=regulated)
    from assay.plugins import make_plugin_manager, sandbox_backends

    offered = sandbox_backends(make_plugin_manager())
    if name in offered:
        box: Sandbox = offered[name](workspace, cfg, regulated=regulated)
        return box
    known = ", ".join(["auto", "docker", "bwrap", "local", *sorted(offered)])
    raise SandboxUnavailable(f"unknown sandbox backend {name!r}: use one of {known}")

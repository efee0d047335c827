"""Choosing and opening a backend from settings: ``auto`` is the strongest one available.

A plugin backend (hook ``assay_sandbox_backends``) is used by name only; its factory (an
`assay.plugins.SandboxBackend`) is called as ``factory(workspace, config, regulated=...)`` and
returns a `Sandbox`; one that raises or returns anything else is a `PluginFailure` naming the
plugin.

Order of strength: ``docker`` (separate root filesystem, non-root user, no capabilities,
seccomp, cgroup limits) when its API answers and the image exists, then ``bwrap`` (namespaces
plus cgroup limits on the host's read-only /usr). ``local`` is never chosen automatically.

The docker backend needs the docker SDK (the ``factory`` extra); without it the backend is
reported unavailable with what to install, and ``auto`` picks bwrap.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from assay._extras import MissingExtra
from assay.config import SandboxConfig
from assay.sandbox.base import Limits, Sandbox, SandboxUnavailable
from assay.sandbox.bwrap import BwrapSandbox, bwrap_problem
from assay.sandbox.local import LocalSandbox

if TYPE_CHECKING:
    from assay.plugins import AssayPluginManager

__all__ = [
    "BUILTIN_BACKENDS",
    "backend_problems",
    "interpreter_paths",
    "limits_from",
    "open_sandbox",
    "resolve_backend",
]

BUILTIN_BACKENDS = ("auto", "docker", "bwrap", "local")
"""Backend names assay itself provides; anything else must come from a plugin."""


def interpreter_paths() -> list[Path]:
    """The folders assay's own Python lives in (its venv and base install), for ``ro_paths``.

    bwrap shows only ``/usr`` of the host; mounting these read-only lets a sandboxed command run
    ``sys.executable`` (with pytest, pytest-cov and whatever else that environment holds).
    """
    found: list[Path] = []
    for raw in (sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parents[1])):
        path = Path(raw).resolve()
        if path == Path("/usr") or path.is_relative_to("/usr"):
            continue  # already visible
        if not any(path == p or path.is_relative_to(p) for p in found):
            found.append(path)
    return found


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
    cfg = config or SandboxConfig()
    return {"docker": _docker_problem(cfg), "bwrap": bwrap_problem()}


def _docker_problem(cfg: SandboxConfig) -> str | None:
    try:
        from assay.sandbox.docker import docker_problem
    except MissingExtra as exc:  # no docker SDK
        return str(exc)
    return docker_problem(cfg.image, cfg.docker_host)


def resolve_backend(config: SandboxConfig | None = None, backend: str | None = None) -> str:
    """The backend name `open_sandbox` would use: ``auto`` becomes docker or bwrap.

    Raises `SandboxUnavailable` naming what to install when ``auto`` finds nothing.
    """
    cfg = config or SandboxConfig()
    name = backend or cfg.backend
    if name != "auto":
        return name
    problems = backend_problems(cfg)
    if problems["docker"] is None:
        return "docker"
    if problems["bwrap"] is None:
        return "bwrap"
    raise SandboxUnavailable(
        "no sandbox backend is available. docker: "
        f"{problems['docker']}. bwrap: {problems['bwrap']}. Install bubblewrap "
        "(apt-get install bubblewrap), or start Docker or Podman and run "
        "`assay sandbox build-image`; or pass --sandbox local to run without isolation."
    )


def open_sandbox(
    workspace: Path,
    config: SandboxConfig | None = None,
    *,
    regulated: bool = False,
    backend: str | None = None,
    ro_paths: Sequence[Path] = (),
    plugins: AssayPluginManager | None = None,
    dependencies: Path | None = None,
) -> Sandbox:
    """A sandbox on `workspace` as configured; `backend` overrides the configured name.

    `dependencies`: the service's installed dependency folder (`assay.deps`), mounted read-only
    and put on every command's ``PYTHONPATH`` by the built-in backends.

    `ro_paths` are mounted read-only in addition to the configured ones (bwrap). A name that
    is not built in is looked up in `plugins`, the command's plugin manager (built under the
    project's settings); without one such a name is refused rather than looked up in plugins
    loaded behind the caller's back (which would ignore ``plugins.block``).
    Raises `SandboxUnavailable` naming what to install when nothing suitable is available, and
    `UserError` for ``local`` under a regulated policy.
    """
    cfg = config or SandboxConfig()
    name = resolve_backend(cfg, backend)
    limits = limits_from(cfg)
    extra_ro = [Path(p) for p in cfg.ro_paths] + [p for p in ro_paths if p.exists()]
    if name == "docker":
        try:
            from assay.sandbox.docker import DockerSandbox
        except MissingExtra as exc:
            raise SandboxUnavailable(str(exc)) from exc

        return DockerSandbox(
            workspace,
            limits=limits,
            env_allow=cfg.env_allow,
            image=cfg.image,
            base_url=cfg.docker_host,
            dependencies=dependencies,
        )
    if name == "bwrap":
        return BwrapSandbox(
            workspace, limits=limits, env_allow=cfg.env_allow, ro_paths=extra_ro,
            dependencies=dependencies,
        )  # fmt: skip
    if name == "local":
        return LocalSandbox(
            workspace, limits=limits, env_allow=cfg.env_allow, regulated=regulated,
            dependencies=dependencies,
        )  # fmt: skip
    from assay.plugins import sandbox_backends

    if plugins is None:
        raise SandboxUnavailable(
            f"sandbox backend {name!r} is not built in ({', '.join(BUILTIN_BACKENDS)}) and no "
            "plugin manager was passed to look it up in (a bug in the caller)"
        )
    offered = sandbox_backends(plugins)
    if name in offered:
        factory = offered[name]  # guarded: what it raises is a PluginFailure naming the plugin
        box = factory(workspace, cfg, regulated=regulated)
        if not isinstance(box, Sandbox):
            raise factory.wrong(box, "an assay.sandbox.Sandbox")
        return box
    known = ", ".join([*BUILTIN_BACKENDS, *sorted(offered)])
    raise SandboxUnavailable(f"unknown sandbox backend {name!r}: use one of {known}")

"""`assay sandbox build-image` and `assay sandbox check`: set up and inspect the sandboxes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.config import find_config, load_settings
from assay.errors import UserError
from assay.terminal import Cell, console, info_console, literal, print_table

__all__ = ["register"]

sandbox_app = typer.Typer(help="Set up and check the sandboxes generated code runs in.")


@sandbox_app.command("build-image")
def build_image_command(
    image: Annotated[
        str | None, typer.Option("--image", help="Image name (default: the configured one).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if it exists.")] = False,
    suite: Annotated[str, typer.Option("--suite", help="Debian suite.")] = "bookworm",
    mirror: Annotated[
        str, typer.Option("--mirror", help="Debian mirror URL.")
    ] = "http://deb.debian.org/debian",
    config: Annotated[
        Path | None, typer.Option("--config", help="assay.toml or pyproject.toml to use.")
    ] = None,
) -> int:
    """Build the docker backend's Python base image offline (debootstrap + image import)."""
    from assay.sandbox.image import build_image

    settings = load_settings(config if config is not None else find_config(Path.cwd()))
    name = image or settings.sandbox.image
    notes = info_console(stderr=True)
    built = build_image(
        name,
        force=force,
        suite=suite,
        mirror=mirror,
        base_url=settings.sandbox.docker_host,
        say=lambda msg: notes.print(literal(msg)),
    )
    notes.print(
        f"{literal(name)}: {'built' if built else 'already present (use --force to rebuild)'}"
    )
    return 0


@sandbox_app.command("check")
def check_command(
    config: Annotated[
        Path | None, typer.Option("--config", help="assay.toml or pyproject.toml to use.")
    ] = None,
) -> int:
    """Report which sandbox backends work here and which one `auto` picks; exit 2 if none."""
    from assay.sandbox.select import backend_problems

    settings = load_settings(config if config is not None else find_config(Path.cwd()))
    problems = backend_problems(settings.sandbox)
    rows: list[list[Cell]] = [
        [name, ("ok", "green") if problem is None else (problem, "red")]
        for name, problem in problems.items()
    ]
    rows.append(["local", ("no isolation; only by name, refused when regulated", "yellow")])
    out = console()
    print_table(out, "assay sandbox backends", ("backend", "status"), rows)
    chosen = next((n for n, p in problems.items() if p is None), None)
    configured = settings.sandbox.backend
    if configured not in ("auto", "docker", "bwrap", "local"):
        from assay.plugins import make_plugin_manager, sandbox_backends

        offered = sandbox_backends(make_plugin_manager(settings=settings))
        if configured not in offered:
            raise UserError(
                f"[sandbox] backend = {configured!r} is neither built in (auto, docker, bwrap, "
                f"local) nor offered by a plugin ({', '.join(sorted(offered)) or 'none installed'})"
            )
    if configured != "auto":
        out.print(f"configured backend: {literal(configured)}")
    if chosen is None:
        raise UserError(
            "no isolating sandbox is available: install bubblewrap, or start Docker/Podman and "
            "run `assay sandbox build-image`"
        )
    out.print(f"auto picks: {literal(chosen)}")
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay sandbox`."""
    app.add_typer(sandbox_app, name="sandbox")

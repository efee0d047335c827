"""`assay key create [PATH]` and `assay key show`: this user's own signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.ledger.keyring import create_key
from assay.ledger.keys import load_signer, named_key_path
from assay.terminal import console, info_console, literal

__all__ = ["register"]

key_app = typer.Typer(help="Create and show your signing key (runs, reports and approvals).")


@key_app.command("create")
def create_command(
    path: Annotated[
        Path | None,
        typer.Argument(help="Where to write it; default $ASSAY_SIGNING_KEY, else the default."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Label in your trust store.")] = "",
) -> int:
    """Create an Ed25519 key (mode 0600, never over an existing file) and trust it."""
    key_path, _ = named_key_path(path)
    signer = create_key(key_path, name=name)
    info_console().print(f"created {literal(key_path)}, trusted as your own key")
    console().print(signer.key_id)
    return 0


@key_app.command("show")
def show_command(
    key: Annotated[
        Path | None, typer.Option("--key", help="Key file; default $ASSAY_SIGNING_KEY.")
    ] = None,
) -> int:
    """Print the key id of the key assay would sign with (it must exist)."""
    key_path, named_by = named_key_path(key)
    signer = load_signer(key_path, named_by=named_by)
    info_console().print(f"signing key {literal(key_path)}")
    console().print(signer.key_id)
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay key`."""
    app.add_typer(key_app, name="key")

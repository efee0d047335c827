"""`assay trust add|list|remove`: the keys `assay verify` accepts as signers."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.errors import UserError
from assay.ledger.keyring import add_trusted, load_trusted, remove_trusted, trust_store_path
from assay.terminal import Cell, console, info_console, literal, print_table

__all__ = ["register"]

trust_app = typer.Typer(help="The keys assay verify accepts as signers (your trust root).")


@trust_app.command("add")
def add_command(
    key: Annotated[
        str, typer.Argument(help="A key id (64 hex digits), or a public or private key PEM file.")
    ],
    name: Annotated[str, typer.Option("--name", help="Who the key belongs to.")] = "",
) -> int:
    """Trust KEY; compare its id with its owner's out of band before you do."""
    added = add_trusted(key, name)
    info_console().print(
        f"trusted {added.key_id}{' (' + literal(added.name) + ')' if added.name else ''} "
        f"in {literal(trust_store_path())}"
    )
    return 0


@trust_app.command("list")
def list_command() -> int:
    """List the trusted keys: key id and name."""
    keys = load_trusted()
    if not keys:
        info_console().print(f"no trusted keys in {literal(trust_store_path())}")
        return 0
    rows: list[list[Cell]] = [[k.key_id, k.name] for k in keys.values()]
    print_table(console(), "trusted keys", ["key id", "name"], rows)
    return 0


@trust_app.command("remove")
def remove_command(
    key_id: Annotated[str, typer.Argument(help="Key id, or a unique prefix of 8+ digits.")],
) -> int:
    """Stop trusting a key."""
    if not remove_trusted(key_id):
        raise UserError(f"{key_id} is not a trusted key (see `assay trust list`)")
    info_console().print(f"no longer trusted: {literal(key_id)}")
    return 0


def register(app: typer.Typer) -> None:
    """Attach `assay trust`."""
    app.add_typer(trust_app, name="trust")

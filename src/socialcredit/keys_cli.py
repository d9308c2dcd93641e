"""``scs key``: create, list and revoke the API's keys.

A key's token is printed once, on stdout, and never stored; lose it and create another.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from socialcredit.console import CommandError, Db, SecretFile, emit, err, user_errors
from socialcredit.identifiers import SubjectKind, infer_kind
from socialcredit.store import keys
from socialcredit.store.registry import Registry

app = typer.Typer(
    help="API keys: who may call the registry's API, and as what.", no_args_is_help=True
)


@app.command("create")
@user_errors
def create(
    role: Annotated[keys.Role, typer.Option("--role", help="What the key may do")],
    provider: Annotated[
        str | None, typer.Option("--provider", help="provider keys: the provider it submits for")
    ] = None,
    subject: Annotated[
        str | None,
        typer.Option("--subject", metavar="ID", help="subject keys: the resident number or USCC"),
    ] = None,
    kind: Annotated[
        SubjectKind | None,
        typer.Option("--kind", help="The subject's kind (default: from the identifier's shape)"),
    ] = None,
    measures: Annotated[
        list[str] | None,
        typer.Option("--measures", help="consumer keys: the measures it checks (repeat or commas)"),
    ] = None,
    more_measures: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", metavar="DATE", help="Last day the key works")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help='Print {"key", "id"}')] = False,
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Create a key and print its token once (only its hash is kept)."""
    codes = [c for item in (measures or []) + (more_measures or []) for c in item.split(",") if c]
    key, token = keys.create(
        Registry.open(db, secret_file),
        role,
        provider=provider,
        subject=None if subject is None else (kind or infer_kind(subject), subject),
        measures=codes,
        expires=_date(expires),
    )
    if json_out:
        emit({"key": token, "id": key.id})
        return
    typer.echo(token)
    err.print(
        f"key {key.id} ({key.role.value}) created: the token above is shown only this once",
        markup=False,
        highlight=False,
    )


@app.command("list")
@user_errors
def list_(db: Db = None, secret_file: SecretFile = None) -> None:
    """List the keys: id, role, binding, expiry, revocation (never the tokens)."""
    emit([key.to_json() for key in keys.all_keys(Registry.open(db, secret_file))])


@app.command("revoke")
@user_errors
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (k_…)")],
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Revoke a key: every request with it is refused from now on."""
    emit(keys.revoke(Registry.open(db, secret_file), key_id).to_json())


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--expires {text!r} is not a date (YYYY-MM-DD)") from None

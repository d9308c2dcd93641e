"""``scs rulebook``: check a rulebook, show the shipped ones, activate one in a registry.

``check`` is what an operator runs while writing a rulebook: it prints every problem on its
own line (entry, reason, and the line crossed if any) and exits 1, so it also works in CI.
``activate`` runs the same checks and refuses the rulebook on any problem, so no rulebook that
crosses a line can ever score anyone in a registry.
"""

from __future__ import annotations

import typer

from socialcredit.console import Db, SecretFile, emit, user_errors
from socialcredit.rulebook import RulebookError, load_rulebook, shipped_text
from socialcredit.store.registry import Registry

app = typer.Typer(
    help="Check rulebooks, show the shipped ones, and activate them in a registry.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def check(
    rulebook: str = typer.Argument(
        ..., metavar="FILE_OR_NAME", help="A rulebook .toml file or a shipped rulebook's name."
    ),
) -> None:
    """Check a rulebook's structure, meaning and the lines we do not cross."""
    try:
        loaded = load_rulebook(rulebook)
    except RulebookError as exc:
        typer.echo(f"{exc.origin}: {_count(len(exc.problems), 'problem')}", err=True)
        for problem in exc.problems:
            typer.echo(str(problem))
        raise typer.Exit(1) from None
    counts = ", ".join(
        _count(n, word)
        for n, word in (
            (len(loaded.types), "record type"),
            (len(loaded.grades), "grade"),
            (len(loaded.lists), "list"),
            (len(loaded.measures), "measure"),
            (len(loaded.repairs), "repair rule"),
        )
    )
    typer.echo(f"OK {loaded.name} {loaded.version}: {counts}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@app.command()
def show(name: str = typer.Argument(..., help="A shipped rulebook's name.")) -> None:
    """Print a shipped rulebook's TOML, as published."""
    try:
        text = shipped_text(name)
    except RulebookError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    typer.echo(text, nl=False)


@app.command()
@user_errors
def activate(
    rulebook: str = typer.Argument(
        ..., metavar="NAME_OR_FILE", help="A rulebook .toml file or a shipped rulebook's name."
    ),
    db: Db = None,
    secret_file: SecretFile = None,
) -> None:
    """Check a rulebook and make it the active version of its name (logged)."""
    activation, changed = Registry.open(db, secret_file).activate_rulebook(rulebook)
    emit({**activation.to_json(), "changed": changed})


@app.command("list")
@user_errors
def list_(db: Db = None, secret_file: SecretFile = None) -> None:
    """The active rulebooks: name, version, SHA-256 of the text, when and by whom."""
    active = Registry.open(db, secret_file).active_rulebooks()
    if not active:
        typer.echo("no rulebook activated: the shipped ones are used by name", err=True)
    emit([a.to_json() for a in active])

"""What every ``scs`` command shares: options, JSON output, progress bars and error lines.

Machine-readable results go to stdout as JSON, progress and messages to stderr, so commands
compose in scripts. A user error (bad input, unknown ref, wrong secret, a rulebook that fails
its check) becomes one unwrapped line starting ``error:`` and exit status 2 — never a
traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from socialcredit import clock
from socialcredit.catalog import CatalogError
from socialcredit.clock import ClockError
from socialcredit.engines import BulkUnavailable
from socialcredit.identifiers import InvalidIdentifier
from socialcredit.importer import InputUnreadable, RejectsFileError
from socialcredit.providers import ProviderError
from socialcredit.records import RecordRejected
from socialcredit.result_files import OutputError
from socialcredit.rulebook import RulebookError
from socialcredit.store.database import DatabaseError
from socialcredit.store.ledger import AmendError
from socialcredit.store.registry import RegistryError
from socialcredit.store.rulebooks import one_line
from socialcredit.store.secret import SecretError

P = ParamSpec("P")
R = TypeVar("R")

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="SCS_DATABASE_URL",
        help="sqlite:///path or postgresql://… (default ./socialcredit.db)",
        show_default=False,
    ),
]
SecretFile = Annotated[
    Path | None,
    typer.Option(
        "--secret-file",
        envvar="SCS_SECRET_FILE",
        help="The identifier secret (default: ~/.local/share/socialcredit/keys/<database>.key)",
        show_default=False,
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="The moment to evaluate (YYYY-MM-DD; default today, or SCS_CLOCK)",
        show_default=False,
    ),
]


class CommandError(ValueError):
    """The options do not fit together, or name something that is not there."""


USER_ERRORS = (
    AmendError,
    BulkUnavailable,
    CatalogError,
    ClockError,
    CommandError,
    DatabaseError,
    InputUnreadable,
    InvalidIdentifier,
    OutputError,
    ProviderError,
    RecordRejected,
    RegistryError,
    RejectsFileError,
    RulebookError,
    SecretError,
)

err = Console(stderr=True, soft_wrap=True)  # never break a path or ref across lines


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the registry's typed errors into one clear line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            text = one_line(exc) if isinstance(exc, RulebookError) else str(exc)
            err.print(f"[bold red]error:[/] {escape(text)}", highlight=False)
            raise typer.Exit(2) from None

    return wrapper


def emit(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON."""
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def as_of_date(text: str | None) -> date:
    """``--as-of`` as a date; today (``SCS_CLOCK`` honoured) when not given."""
    if text is None:
        return clock.today()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--as-of {text!r} is not a date (YYYY-MM-DD)") from None


class _NoProgress:
    def __call__(self, done: int) -> None:
        return None


class progress_bar:
    """A Rich progress bar on stderr when it is a terminal; silent otherwise.

    ``with progress_bar(label, total, bytes_=…) as advance: advance(done)``.
    """

    def __init__(self, label: str, total: int | None, bytes_: bool):
        self.label, self.total, self.bytes_ = label, total, bytes_
        self.bar: Progress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if not err.is_terminal:
            return _NoProgress()
        columns: list[Any] = [TextColumn("{task.description}"), BarColumn()]
        columns += [TransferSpeedColumn()] if self.bytes_ else [TextColumn("{task.completed:,.0f}")]
        columns.append(TimeRemainingColumn())
        self.bar = Progress(*columns, console=err, transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        bar = self.bar
        return lambda done: bar.update(task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

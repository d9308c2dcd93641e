"""``scs score``, ``scs explain`` and ``scs rescore``: results from files and from the registry.

``score`` needs no database: it scores the records of a file, for what-if runs and tests.
``explain`` evaluates a registry subject at read time and says why, in words. ``rescore``
writes the results snapshot that lists and analytics read. ``cli`` registers them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from socialcredit import clock
from socialcredit.console import (
    AsOf,
    CommandError,
    Db,
    SecretFile,
    as_of_date,
    emit,
    progress_bar,
    user_errors,
)
from socialcredit.engines import BulkUnavailable, load_bulk, records_table
from socialcredit.explain import render
from socialcredit.identifiers import SubjectKind, display_form, infer_kind
from socialcredit.record_files import FileSubject, RecordFile, read_records
from socialcredit.result_files import ResultWriter, named, summary
from socialcredit.rulebook import Rulebook, load_rulebook
from socialcredit.scoring import evaluate
from socialcredit.store.registry import Registry

#: Rejected rows listed one by one on stderr before the rest are only counted.
SHOWN_REJECTIONS = 50


class EngineChoice(StrEnum):
    INCREMENTAL = "incremental"
    BULK = "bulk"


# -- scs sort-records ---------------------------------------------------------------------------
@user_errors
def sort_records(
    source: Annotated[
        Path, typer.Argument(help="JSON Lines, CSV or Parquet with the flat columns")
    ],
    target: Annotated[Path, typer.Argument(help="The Parquet file to write")],
) -> None:
    """Write records sorted by subject as Parquet: the layout the bulk engine scores in one
    pass (its compiled kernel), with the order declared in the file."""
    from socialcredit.bulk import SourceError, kernel  # the bulk engine: when asked for

    if target.suffix.lower() != ".parquet":
        raise CommandError(f"{target}: the sorted records are written as .parquet")
    if target.resolve() == source.resolve():
        raise CommandError(f"{target}: write the sorted records to another file than the source")
    try:
        rows = kernel.sort_records(source, target)
    except (SourceError, OSError) as error:  # DuckDB's own errors name the file
        raise CommandError(str(error)) from None
    emit({"rows": rows, "target": str(target), "sorted_by": list(kernel.SORT_ORDER)})


# -- scs score ----------------------------------------------------------------------------------
@user_errors
def score(
    rulebook: Annotated[
        str,
        typer.Option(
            "--rulebook", metavar="NAME_OR_FILE", help="A shipped rulebook's name or a .toml file"
        ),
    ],
    records: Annotated[
        Path, typer.Option("--records", help="JSON Lines, CSV or Parquet with the flat columns")
    ],
    as_of: AsOf = None,
    subject: Annotated[
        str | None, typer.Option("--subject", metavar="ID", help="Score this subject")
    ] = None,
    all_subjects: Annotated[
        bool, typer.Option("--all", help="Score every subject: JSON Lines, one per subject")
    ] = False,
    engine: Annotated[EngineChoice, typer.Option("--engine")] = EngineChoice.INCREMENTAL,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Write results to a .parquet or .jsonl file instead"),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json/--text", help="JSON (default), or words with --subject")
    ] = True,
) -> None:
    """Score the records of a file without a registry; exit 1 if some rows were rejected."""
    if (subject is None) == (not all_subjects):
        raise CommandError("give either --subject ID or --all")
    if not json_out and (subject is None or output is not None or engine is EngineChoice.BULK):
        raise CommandError(
            "--text explains one subject on stdout: use it with --subject and the incremental "
            "engine, without --output"
        )
    bulk = load_bulk() if engine is EngineChoice.BULK else None
    book = load_rulebook(rulebook)
    moment = as_of_date(as_of)
    file = read_records(records, book, max(clock.today(), moment))
    _report_rejections(file)
    chosen = [_one(file, subject)] if subject is not None else list(file.subjects.values())
    if subject is None or output is not None:
        writer = ResultWriter.to_file(output) if output else ResultWriter(sys.stdout.buffer)
        with closing(writer):
            _write(writer, chosen, book, moment, bulk)
    elif bulk is not None:
        ((found, row),) = _in_bulk(bulk, chosen, book, moment)
        emit(summary(found.kind, found.id, row, book, moment))
    else:
        (found,) = chosen
        result = evaluate(found.records, book, moment, found.kind)
        if json_out:
            emit(named(found.kind, found.id, result))
        else:
            who = f"{found.kind.value.title()} {_shown(found)}"
            typer.echo(render(who, moment, [(book, result)]), nl=False)
    raise typer.Exit(1 if file.rejected else 0)


def _write(
    writer: ResultWriter,
    chosen: list[FileSubject],
    book: Rulebook,
    moment: date,
    bulk: ModuleType | None,
) -> None:
    if bulk is not None:
        for found, row in _in_bulk(bulk, chosen, book, moment):
            writer.write_summary(found.kind, found.id, row, book, moment)
        return
    for found in chosen:
        writer.write(found.kind, found.id, evaluate(found.records, book, moment, found.kind))


def _in_bulk(
    bulk: ModuleType, chosen: list[FileSubject], book: Rulebook, moment: date
) -> Iterator[tuple[FileSubject, dict[str, Any]]]:
    """The bulk engine's rows for the chosen subjects, each with the subject it is about.

    It gets the same validated records as the one-subject engine, each subject under one id
    (its position here), so the two engines answer for the same subjects from the same rows.
    """
    table = records_table([(str(i), s.kind, s.records) for i, s in enumerate(chosen)])
    for batch in bulk.score_all(table, book, moment):
        for row in batch.to_pylist():
            yield chosen[int(row["subject_id"])], row


def _one(file: RecordFile, raw_id: str) -> FileSubject:
    found = file.find(raw_id, infer_kind(raw_id))
    if found is None:
        raise CommandError(f"{file.path.name} holds no valid record of subject {_masked(raw_id)}")
    return found


def _masked(raw_id: str) -> str:
    return display_form(infer_kind(raw_id), raw_id.strip().upper())


def _shown(found: FileSubject) -> str:
    return display_form(found.kind, found.records[0].subject.id)


def _report_rejections(file: RecordFile) -> None:
    for bad in file.rejected[:SHOWN_REJECTIONS]:
        typer.echo(f"rejected: {bad}", err=True)
    hidden = len(file.rejected) - SHOWN_REJECTIONS
    if hidden > 0:
        typer.echo(f"rejected: {hidden} more rows", err=True)
    if file.rejected:
        typer.echo(
            f"{len(file.rejected)} of {file.rows} rows rejected and left out; "
            "the results cover the rest",
            err=True,
        )


# -- scs explain --------------------------------------------------------------------------------
@user_errors
def explain(
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="Resident number or USCC")],
    db: Db = None,
    secret_file: SecretFile = None,
    kind: Annotated[
        SubjectKind | None,
        typer.Option("--kind", help="Default: from the identifier's shape", show_default=False),
    ] = None,
    rulebook: Annotated[
        str | None,
        typer.Option(
            "--rulebook", metavar="NAME", help="Default: every active rulebook, else rongcheng"
        ),
    ] = None,
    as_of: AsOf = None,
    json_out: Annotated[bool, typer.Option("--json", help="The JSON form")] = False,
) -> None:
    """Explain a subject's score, grade, lists and measures in words, record by record."""
    registry = Registry.open(db, secret_file)
    moment = as_of_date(as_of)
    file = registry.subject_file(kind or infer_kind(subject), subject)
    names = [rulebook] if rulebook else [a.name for a in registry.active_rulebooks()]
    books = [registry.rulebook(name) for name in names or ["rongcheng"]]
    counted = registry.scored_records(file, moment)
    results = [(book, evaluate(counted, book, moment, file.subject.kind)) for book in books]
    who = file.subject
    if json_out:
        emit(
            {
                "subject": {"kind": who.kind.value, "id": who.display, "name": who.name},
                "as_of": moment.isoformat(),
                "results": [result.to_json() for _, result in results],
                "history": [entry.to_json() for entry in file.history],
            }
        )
        return
    title = f"{who.kind.value.title()} {who.display}" + (f" ({who.name})" if who.name else "")
    typer.echo(render(title, moment, results, file.history), nl=False)


# -- scs rescore --------------------------------------------------------------------------------
@user_errors
def rescore(
    rulebook: Annotated[str, typer.Option("--rulebook", metavar="NAME", help="Rulebook name")],
    db: Db = None,
    secret_file: SecretFile = None,
    as_of: AsOf = None,
) -> None:
    """Write every subject's result to the results snapshot (for lists and analytics)."""

    registry = Registry.open(db, secret_file)
    try:
        bulk: ModuleType | None = load_bulk()
    except BulkUnavailable as exc:
        typer.echo(f"scoring subject by subject: {exc}", err=True)
        bulk = None
    counts = registry.counts()
    total = counts["persons"] + counts["organisations"] + counts["institutions"]
    with progress_bar(f"rescoring under {rulebook}", total, bytes_=False) as advance:
        summary = registry.rescore(rulebook, as_of_date(as_of), bulk, advance)
    emit(summary.to_json())

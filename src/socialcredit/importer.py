"""Bulk import: JSON Lines, CSV and Parquet files into the ledger, batch by batch.

Each batch is validated and appended in one transaction, so a crash or a kill leaves the
database at a batch boundary and running the same import again finishes the job: records
already stored come back as duplicates, never twice. A bad row never stops the good ones; it
goes to the rejects file with its line number, the field and the reason.

The work is split the way the machine is: worker processes parse, validate and hash
(``intake``), while this process does the serial part — subject ids, duplicate checks, the
hash chain and the insert — so a two-core machine keeps both cores busy.
"""

from __future__ import annotations

import csv
import gc
import io
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

from socialcredit.intake import (
    ChunkResult,
    IntakeContext,
    Payload,
    Preparer,
    Rejection,
    init_worker,
    payload_input,
    prepare_in_worker,
)
from socialcredit.records import FLAT_COLUMNS, REQUIRED_FLAT_COLUMNS, FieldError
from socialcredit.store.registry import Registry

BATCH_SIZE = 20_000
#: JSON Lines are read in blocks of this size and cut into batches of lines.
BLOCK_BYTES = 1024 * 1024
#: Files smaller than this are prepared in-process: starting workers would cost more.
PARALLEL_THRESHOLD = 4 * 1024 * 1024
MAX_WORKERS = 2
PARQUET_MAGIC = b"PAR1"
csv.field_size_limit(64 * 1024 * 1024)


class Format(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


SUFFIXES = {
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSONL,
    ".csv": Format.CSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
}


class InputUnreadable(ValueError):
    """The file as a whole cannot be read as the format it claims (exit status 2)."""


@dataclass(slots=True)
class ImportSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    unreadable_rows: int = 0
    rows: int = 0
    errors_by_field: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
        }

    @property
    def exit_code(self) -> int:
        """0 all landed, 1 some rejected, 2 not one row could be read as the format."""
        if self.rows and self.unreadable_rows == self.rows:
            return 2
        return 1 if self.rejected else 0


def detect_format(path: Path, declared: Format | None = None) -> Format:
    """The file's format from ``declared`` or its suffix, cross-checked against its bytes."""
    fmt = declared or SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputUnreadable(
            f"{path.name}: cannot tell the format from the suffix {path.suffix!r}; "
            "use .jsonl, .csv or .parquet, or pass --format"
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise InputUnreadable(f"{path}: {exc.strerror}") from None
    if not head:
        raise InputUnreadable(f"{path.name}: the file is empty")
    is_parquet = head == PARQUET_MAGIC
    if fmt is Format.PARQUET and not is_parquet:
        raise InputUnreadable(f"{path.name}: not a Parquet file (it does not start with PAR1)")
    if fmt is not Format.PARQUET and is_parquet:
        raise InputUnreadable(
            f"{path.name}: this is a Parquet file, not {fmt.value}; use --format parquet"
        )
    return fmt


# -- readers: each turns a file into payloads for the preparers --------------------------------
def jsonl_payloads(
    handle: IO[bytes], batch_size: int, block: int = BLOCK_BYTES
) -> Iterator[Payload]:
    """Batches of ``batch_size`` raw lines (blank ones included, so numbering stays exact).

    Lines are split here but parsed by the preparer: splitting is cheap C work, parsing is not.
    """
    line, pending, rest, first_block = 1, [], b"", True
    while True:
        data = handle.read(block)
        if first_block:
            data, first_block = data.removeprefix(b"\xef\xbb\xbf"), False  # a UTF-8 BOM
        if not data:
            if rest:
                pending.append(rest)
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()  # an unfinished line waits for the next block
        pending.extend(lines)
        while len(pending) >= batch_size:
            yield Payload("jsonl", line, pending[:batch_size])
            line += batch_size
            pending = pending[batch_size:]
    if pending:
        yield Payload("jsonl", line, pending)


def csv_payloads(handle: IO[bytes], batch_size: int) -> Iterator[Payload]:
    """Rows of a CSV file with a header of the flat columns; bad rows carry their error.

    Bytes that are not UTF-8 are kept as surrogate escapes, so such a row is rejected on its
    own instead of stopping the import halfway.
    """
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputUnreadable(f"cannot read the CSV header: {exc}") from None
    if not _is_utf8("".join(header)):
        raise InputUnreadable("the CSV header is not UTF-8 text")
    _check_columns("CSV header", header)
    width = len(header)
    rows: list[tuple[int, Any, FieldError | None]] = []
    while True:
        start = reader.line_num + 1  # a quoted cell may carry the row over several lines
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((start, None, FieldError("line", f"malformed CSV: {exc}")))
            continue
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if not _is_utf8("".join(cells)):
            rows.append((start, cells, FieldError("line", "not UTF-8 text")))
        elif len(cells) != width:
            rows.append(
                (
                    start,
                    cells,
                    FieldError("line", f"has {len(cells)} fields, the header has {width}"),
                )
            )
        else:
            rows.append((start, dict(zip(header, cells, strict=True)), None))
        if len(rows) >= batch_size:
            yield Payload("rows", rows[0][0], rows)
            rows = []
    if rows:
        yield Payload("rows", rows[0][0], rows)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes of undecodable bytes
        return False
    return True


def parquet_payloads(path: Path, batch_size: int) -> Iterator[Payload]:
    """Record batches of a Parquet file with the flat columns (row numbers from 1)."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError variants
        raise InputUnreadable(f"{path.name}: not a readable Parquet file ({exc})") from None
    _check_columns(f"{path.name}", parquet.schema_arrow.names)
    first = 1
    for batch in parquet.iter_batches(batch_size=batch_size):
        yield Payload("arrow", first, batch)
        first += batch.num_rows


def _check_columns(where: str, names: list[str]) -> None:
    unknown = [n for n in names if n not in FLAT_COLUMNS]
    missing = [c for c in REQUIRED_FLAT_COLUMNS if c not in names]
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(n[:40]) for n in unknown[:5])}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if len(set(names)) != len(names):
        problems.append("a column is named twice")
    if problems:
        hint = " (this looks like JSON Lines)" if names and names[0].startswith("{") else ""
        raise InputUnreadable(
            f"{where}: {'; '.join(problems)}{hint}; expected columns: {', '.join(FLAT_COLUMNS)}"
        )


# -- the import ---------------------------------------------------------------------------------
def import_file(
    registry: Registry,
    path: Path,
    fmt: Format | None = None,
    rejects_path: Path | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> ImportSummary:
    """Import ``path`` into ``registry``; see the module docstring for the guarantees.

    ``progress`` is called with the units done so far (bytes for text formats, rows for
    Parquet; ``progress_total`` gives the matching total). ``workers`` is the number of
    processes that validate and hash while this one writes; by default one per core (at most
    ``MAX_WORKERS``) for files big enough to repay starting them, none for small ones.
    """
    fmt = detect_format(path, fmt)
    rejects_path = rejects_path or path.with_name(path.name + ".rejects.jsonl")
    if workers is None:
        workers = default_workers(path)
    summary = ImportSummary()
    sink = RejectSink(rejects_path)  # opened now: an unwritable path fails before any insert
    context = registry.intake_context()
    # An import allocates tens of millions of short-lived tuples while holding a few hundred
    # thousand subjects in caches, so the cycle collector would keep walking those caches for
    # cycles this code never makes: about 4 µs per record in the writer, a seventh of its
    # time. Reference counting still frees everything.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if fmt is Format.PARQUET:
            _run(
                registry,
                context,
                parquet_payloads(path, batch_size),
                workers,
                summary,
                sink,
                lambda: summary.rows,
                progress,
            )
        else:
            with path.open("rb") as handle:
                payloads = (
                    jsonl_payloads(handle, batch_size)
                    if fmt is Format.JSONL
                    else csv_payloads(handle, batch_size)
                )
                _run(registry, context, payloads, workers, summary, sink, handle.tell, progress)
    finally:
        sink.close()
        if collecting:
            gc.enable()
    summary.rejects_file = str(rejects_path) if sink.count else None
    if not sink.count:
        rejects_path.unlink(missing_ok=True)  # an empty or stale file would mislead
    return summary


def default_workers(path: Path) -> int:
    """Worker processes worth starting: none below ``PARALLEL_THRESHOLD`` or on one core,
    else one per core, up to ``MAX_WORKERS``.

    One per core, not one per core the main process leaves free: the main process spends
    part of its time in SQLite with the GIL released and part waiting on its workers, so on
    two cores a second worker fills the slack. Where the workers are the slower side (CSV and
    Parquet rows go through the full validator, ~25 µs a record) that made the import faster:
    Parquet, 1M records on two cores, 42,500-46,800 records/s against 37,500-38,900 with one
    worker; for JSON Lines, where the writer is the slower side, it changed nothing
    (53,100-55,200 against 49,800-54,800).
    """
    cores = os.cpu_count() or 1
    if cores < 2 or path.stat().st_size < PARALLEL_THRESHOLD:
        return 0
    return min(cores, MAX_WORKERS)


def progress_total(path: Path, fmt: Format) -> int:
    if fmt is Format.PARQUET:
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    return path.stat().st_size


def _run(
    registry: Registry,
    context: IntakeContext,
    payloads: Iterator[Payload],
    workers: int,
    summary: ImportSummary,
    sink: RejectSink,
    position: Callable[[], int],
    progress: Callable[[int], None] | None,
) -> None:
    """Prepare payloads (here or in workers) and append each one as one transaction."""
    for payload, chunk in _prepare_all(context, payloads, workers):
        summary.rows += chunk.rows
        rejections = list(chunk.rejected)
        if chunk.prepared:
            result = registry.append_prepared(chunk.prepared, owe_notices=True)
            summary.accepted += len(result.accepted)
            summary.duplicates += len(result.duplicates)
            for index, errors in result.rejected.items():
                line = chunk.lines[index]
                rejections.append(Rejection(line, errors, payload_input(payload, line), False))
        for rejection in sorted(rejections, key=lambda r: r.line):
            summary.unreadable_rows += rejection.unreadable
            _reject(summary, sink, rejection)
        if progress:
            progress(position())


def _prepare_all(
    context: IntakeContext, payloads: Iterator[Payload], workers: int
) -> Iterator[tuple[Payload, ChunkResult]]:
    """Payloads with their prepared chunks, in input order; with workers, a bounded number in
    flight at once (the payload is kept to quote rows the ledger refuses)."""
    if workers <= 0:
        preparer = Preparer(context)
        for payload in payloads:
            yield payload, preparer.prepare(payload)
        return
    # spawn, not fork: the parent holds database connections and maybe a progress thread.
    # An executor, not a Pool: a worker that dies makes it fail loudly (BrokenProcessPool)
    # where a Pool would quietly start another and leave the import waiting forever.
    with ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(context,),
    ) as pool:
        in_flight: deque[tuple[Payload, Future[ChunkResult]]] = deque()
        for payload in payloads:
            in_flight.append((payload, pool.submit(prepare_in_worker, payload)))
            if len(in_flight) > 2 * workers:
                done, pending = in_flight.popleft()
                yield done, pending.result()
        while in_flight:
            done, pending = in_flight.popleft()
            yield done, pending.result()


def _reject(summary: ImportSummary, sink: RejectSink, rejection: Rejection) -> None:
    summary.rejected += 1
    for error in rejection.errors:
        summary.errors_by_field[error.field] = summary.errors_by_field.get(error.field, 0) + 1
    sink.write(rejection)


class RejectsFileError(ValueError):
    """The rejects file cannot be written; raised before anything is imported."""


class RejectSink:
    """The rejects file: one JSON line per rejected row, in line order within each batch."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        try:
            self._handle: IO[bytes] = path.open("wb")
        except OSError as exc:
            raise RejectsFileError(
                f"cannot write the rejects file {path}: {exc.strerror}; choose another with "
                "--rejects"
            ) from None

    def write(self, rejection: Rejection) -> None:
        entry = {
            "line": rejection.line,
            "errors": [{"field": e.field, "reason": e.reason} for e in rejection.errors],
            "input": rejection.input,
        }
        self._handle.write(orjson.dumps(entry) + b"\n")
        self.count += 1

    def close(self) -> None:
        self._handle.close()

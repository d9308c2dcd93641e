"""Bulk scoring: one rulebook evaluated for every subject at once, over columnar records.

"One semantics, two executions": ``scoring.evaluate`` scores one subject as records arrive;
this package scores every subject in a file (re-scoring after a rulebook change, simulation,
analytics) and gives, subject for subject and contribution for contribution, the same answer.
DuckDB reads the records and does the work set-at-a-time (``pipeline`` for steps 1-11 of
``scoring``, ``grading`` for 12 and 13); the subjects with a rule the SQL leaves to the engine
(a score condition) are scored by ``scoring.evaluate`` itself (``exact``).
``tests/test_bulk.py`` proves the equality; ``docs/bulk-scoring.md`` explains the design.

The API::

    for batch in score_all("records.parquet", rulebook, date(2025, 3, 1)):
        ...  # pyarrow.RecordBatch of RESULT_SCHEMA, one row per subject
    score_all(source, rulebook, as_of, contributions=True)  # batches of CONTRIBUTION_SCHEMA
    write_results(source, rulebook, as_of, "results.parquet", contributions="contribs.parquet")

Nothing holds every subject at once: DuckDB spills to disk beyond ``memory_limit``, results
stream out in batches, and the exact path works through its subjects a chunk at a time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.bulk import kernel
from socialcredit.bulk.rules import RulebookSQL, lit
from socialcredit.bulk.sources import Source, SourceError, register_source
from socialcredit.rulebook.model import Rulebook

__all__ = [
    "CONTRIBUTION_SCHEMA",
    "RESULT_SCHEMA",
    "BulkRun",
    "BulkSummary",
    "Source",
    "SourceError",
    "score_all",
    "write_results",
]

_CODES = pa.list_(pa.string())
#: One row per subject in the input.
RESULT_SCHEMA = pa.schema(
    [
        ("subject_kind", pa.string()),
        ("subject_id", pa.string()),
        ("score", pa.int64()),
        ("grade", pa.string()),
        ("lists", _CODES),
        ("measures", _CODES),
        ("reasons", _CODES),  # reason codes, most important first (at most four)
    ]
)
#: One row per record that occurred on or before ``as_of`` (``scoring.Contribution``).
CONTRIBUTION_SCHEMA = pa.schema(
    [
        ("subject_kind", pa.string()),
        ("subject_id", pa.string()),
        ("ref", pa.string()),
        ("provider", pa.string()),
        ("type", pa.string()),
        ("occurred_on", pa.date32()),
        ("base_points", pa.int64()),
        ("points", pa.int64()),
        ("applied_points", pa.int64()),
        ("status", pa.string()),
        ("valid_from", pa.date32()),
        ("valid_until", pa.date32()),
    ]
)
#: Rows per yielded batch.
BATCH_ROWS = 100_000
#: DuckDB's working memory; beyond it, it spills to a temporary directory. 3 GB keeps the
#: process under 4 GB with Arrow and Python around it; less makes 10M records spill (2x slower).
MEMORY_LIMIT = "3GB"


@dataclass(frozen=True, slots=True)
class BulkSummary:
    """How many subjects were scored, and by which path.

    ``chained_subjects`` had a repeat the one-pass window could not decide, settled by the
    chain rounds (still the vectorised path; for results alone the window looks only at the
    repeats that can matter at ``as_of``, so fewer than with contributions);
    ``exact_subjects`` were scored by ``scoring.evaluate`` itself.
    """

    subjects: int
    chained_subjects: int
    exact_subjects: int


class BulkRun:
    """One evaluation: the records settled in a private DuckDB database, ready to stream.

    Building it runs steps 1-11 for every record and the exact path for its subjects; the
    results and contributions are then streamed from it as often as asked. Use it as a
    context manager: closing it drops the database and its spill files.
    """

    def __init__(
        self,
        source: Source,
        rulebook: Rulebook,
        as_of: date,
        *,
        contributions: bool = False,
        memory_limit: str = MEMORY_LIMIT,
        threads: int | None = None,
    ):
        self.rules = RulebookSQL(rulebook)
        self.as_of = as_of
        self._spill = tempfile.mkdtemp(prefix="scs-bulk-")
        import duckdb  # here, not at the top: the kernel's path needs neither DuckDB...

        from socialcredit.bulk import exact, grading, pipeline  # ...nor the SQL

        self.con = duckdb.connect(
            config={
                "memory_limit": memory_limit,
                "temp_directory": self._spill,
                "preserve_insertion_order": False,
                **({"threads": threads} if threads else {}),
            }
        )
        try:
            register_source(self.con, source)
            pipeline.build(self.con, self.rules, as_of, every_record=contributions)
            grading.build(self.con, self.rules, as_of)
            exact_subjects = exact.score_routed(
                self.con,
                rulebook,
                as_of,
                RESULT_SCHEMA,
                CONTRIBUTION_SCHEMA if contributions else None,
            )
            ((total, chained),) = self.con.execute(
                "SELECT (SELECT count(*) FROM subjects), (SELECT count(DISTINCT subj) FROM chain)"
            ).fetchall()
            self.summary = BulkSummary(int(total), int(chained), exact_subjects)
        except BaseException:
            self.close()
            raise
        self._contributions = contributions

    def results_sql(self) -> str:
        from socialcredit.bulk import grading

        return (
            f"SELECT * FROM ({grading.results_sql(self.rules)}) "
            "UNION ALL SELECT * FROM exact_results"
        )

    def contributions_sql(self) -> str:
        if not self._contributions:
            raise ValueError("this run was built without contributions=True")
        from socialcredit.bulk import grading

        return (
            f"SELECT * FROM ({grading.contributions_sql()}) UNION ALL SELECT * FROM exact_contribs"
        )

    def results(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every subject's result, in no particular order.

        Sorting is left to the reader: ordering a million subjects by their strings costs
        DuckDB about as much as grading them.
        """
        return self._stream(self.results_sql(), RESULT_SCHEMA, batch_rows)

    def contributions(self, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """Every considered record's contribution, in no particular order.

        ``scoring`` lists a subject's contributions by (occurred_on, ref, provider): sort
        by subject and those to get its order.
        """
        return self._stream(self.contributions_sql(), CONTRIBUTION_SCHEMA, batch_rows)

    def write(self, sql: str, path: str | os.PathLike[str]) -> None:
        """Write a query's rows to Parquet or JSON Lines (by the suffix), straight from DuckDB."""
        suffix = Path(path).suffix.lower()
        if suffix == ".parquet":
            options = "FORMAT parquet"
        elif suffix in (".jsonl", ".ndjson", ".json"):
            options = "FORMAT json"
        else:
            raise SourceError(f"{path}: write .parquet or .jsonl, not {suffix or 'none'}")
        self.con.execute(f"COPY ({sql}) TO {lit(str(path))} ({options})")

    def _stream(self, sql: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch in self.con.sql(sql).to_arrow_reader(batch_rows):
            yield batch.cast(schema)

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> BulkRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def score_all(
    source: Source,
    rulebook: Rulebook,
    as_of: date,
    *,
    contributions: bool = False,
    batch_rows: int = BATCH_ROWS,
    use_kernel: bool | None = None,
) -> Iterator[pa.RecordBatch]:
    """Score every subject in ``source`` as of ``as_of``; yield ``RESULT_SCHEMA`` batches.

    With ``contributions=True`` the batches are the contributions (``CONTRIBUTION_SCHEMA``)
    instead: one row per record considered, as ``scoring.Contribution`` gives them.

    Results of a Parquet file sorted by subject (``kernel.sort_records`` writes one) come from
    the one-pass kernel when it is installed (``use_kernel=None``); ``use_kernel=False`` asks
    for the SQL pipeline, ``True`` for the kernel (``SourceError`` if the source is not such
    a file). Both give the same results.
    """
    if _takes_kernel(source, contributions, use_kernel):
        yield from kernel.score_sorted(source, rulebook, as_of, RESULT_SCHEMA)
        return
    with BulkRun(source, rulebook, as_of, contributions=contributions) as run:
        stream = run.contributions(batch_rows) if contributions else run.results(batch_rows)
        yield from stream


def write_results(
    source: Source,
    rulebook: Rulebook,
    as_of: date,
    path: str | os.PathLike[str],
    *,
    contributions: str | os.PathLike[str] | None = None,
    use_kernel: bool | None = None,
) -> BulkSummary:
    """Score every subject and write the results (and contributions) to Parquet or JSONL.

    Each file is written beside its name and renamed into place when whole: a run that fails
    or is killed leaves the files as they were, never half a file.
    """
    if _takes_kernel(source, contributions is not None, use_kernel):
        with _whole(path) as partial:
            return _write_kernel_results(source, rulebook, as_of, partial)
    with BulkRun(source, rulebook, as_of, contributions=contributions is not None) as run:
        with _whole(path) as partial:
            run.write(run.results_sql(), partial)
        if contributions is not None:
            with _whole(contributions) as partial:
                run.write(run.contributions_sql(), partial)
        return run.summary


@contextmanager
def _whole(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A file to write in place of ``path`` (same folder and suffix), renamed to ``path``
    once the block has written it; removed if the block fails."""
    target = Path(path)
    partial = target.with_name(f".{target.stem}.partial{target.suffix}")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _takes_kernel(source: Source, contributions: bool, use_kernel: bool | None) -> bool:
    """Whether the one-pass kernel scores this source (see ``score_all``)."""
    if use_kernel is False or contributions:
        if use_kernel and contributions:
            raise SourceError("the kernel gives results only: contributions come from the SQL")
        return False
    if use_kernel is None:
        return kernel.available() and kernel.sorted_by_subject(source)
    if not kernel.available():
        raise SourceError("the bulk kernel is not installed (reinstall with a C compiler)")
    if not kernel.sorted_by_subject(source):
        raise SourceError(
            f"{source}: the kernel reads Parquet files declared sorted by subject_kind and "
            "subject_id (bulk.kernel.sort_records writes them)"
        )
    return True


def _write_kernel_results(
    source: str | os.PathLike[str], rulebook: Rulebook, as_of: date, path: str | os.PathLike[str]
) -> BulkSummary:
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".jsonl", ".ndjson", ".json"):
        raise SourceError(f"{path}: write .parquet or .jsonl, not {suffix or 'none'}")
    counts = kernel.KernelCounts()
    if suffix == ".parquet":
        # Made into rows and written on a thread of its own while the kernel scores the next
        # batch; statistics and dictionaries only where they pay.
        with pq.ParquetWriter(
            path, RESULT_SCHEMA, use_dictionary=["subject_kind", "grade"], write_statistics=False
        ) as out:
            kernel.write_sorted(source, rulebook, as_of, RESULT_SCHEMA, out.write_batch, counts)
    else:
        batches = kernel.score_sorted(source, rulebook, as_of, RESULT_SCHEMA, counts)
        import duckdb

        con = duckdb.connect()
        try:
            con.register(
                "kernel_results", pa.RecordBatchReader.from_batches(RESULT_SCHEMA, batches)
            )
            con.execute(f"COPY kernel_results TO {lit(str(path))} (FORMAT json)")
        finally:
            con.close()
    return BulkSummary(counts.subjects, 0, counts.exact_subjects)

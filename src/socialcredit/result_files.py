"""Writing results of many subjects: JSON Lines (a stream or a file) or Parquet.

Every row names its subject as the input named it. Parquet keeps the columns people filter
and group by (score, grade, lists, measures, reason codes) as real columns and the whole
explained result as JSON in ``result``, so nothing is lost and DuckDB can still reach into it.
The bulk engine gives no explanation: its rows carry measure and reason codes, and ``result``
is null. The columns it shares with ``bulk.RESULT_SCHEMA`` have the same names and types.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.identifiers import SubjectKind
from socialcredit.rulebook import Rulebook
from socialcredit.scoring import Result

ROWS_PER_GROUP = 10_000
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

RESULT_SCHEMA = pa.schema(
    [
        ("subject_kind", pa.string()),
        ("subject_id", pa.string()),
        ("rulebook", pa.string()),
        ("version", pa.string()),
        ("as_of", pa.date32()),
        ("score", pa.int64()),
        ("grade", pa.string()),
        ("lists", pa.list_(pa.string())),
        ("measures", pa.list_(pa.string())),
        ("reasons", pa.list_(pa.string())),
        ("result", pa.string()),
    ]
)


class OutputError(ValueError):
    """The output file's name does not say a format this command writes."""


def named(kind: SubjectKind, subject_id: str, result: Result) -> dict[str, Any]:
    """A result as JSON, led by the subject as the input named it."""
    return {"subject": {"kind": kind.value, "id": subject_id}, **result.to_json()}


def summary(
    kind: SubjectKind, subject_id: str, row: dict[str, Any], rulebook: Rulebook, as_of: date
) -> dict[str, Any]:
    """A row of the bulk engine (``bulk.RESULT_SCHEMA``) as JSON, led by the subject."""
    return {
        "subject": {"kind": kind.value, "id": subject_id},
        "rulebook": rulebook.name,
        "version": rulebook.version,
        "as_of": as_of.isoformat(),
        **{k: row[k] for k in ("score", "grade", "lists", "measures", "reasons")},
    }


class ResultWriter:
    """Results to JSON Lines (``handle``) or to a file whose suffix picks the format."""

    def __init__(self, handle: IO[bytes], parquet: bool = False, owned: bool = False):
        self._handle = handle
        self._owned = owned  # opened here, so closed here
        self._rows: list[dict[str, Any]] = []
        self._parquet = pq.ParquetWriter(handle, RESULT_SCHEMA) if parquet else None

    @classmethod
    def to_file(cls, path: Path) -> ResultWriter:
        suffix = path.suffix.lower()
        if suffix not in PARQUET_SUFFIXES + JSONL_SUFFIXES:
            raise OutputError(
                f"--output {path.name}: name it .parquet for Parquet or .jsonl for JSON Lines"
            )
        try:
            handle = path.open("wb")
        except OSError as exc:
            raise OutputError(f"--output {path}: {exc.strerror}") from None
        return cls(handle, parquet=suffix in PARQUET_SUFFIXES, owned=True)

    def write(self, kind: SubjectKind, subject_id: str, result: Result) -> None:
        """An explained result of the one-subject engine."""
        if self._parquet is None:
            self._line(named(kind, subject_id, result))
            return
        self._add(
            {
                "subject_kind": kind.value,
                "subject_id": subject_id,
                "rulebook": result.rulebook,
                "version": result.version,
                "as_of": result.as_of,
                "score": result.score,
                "grade": result.grade,
                "lists": list(result.lists),
                "measures": [m.code for m in result.measures],
                "reasons": [r.code for r in result.reasons],
                "result": orjson.dumps(result.to_json()).decode(),
            }
        )

    def write_summary(
        self,
        kind: SubjectKind,
        subject_id: str,
        row: dict[str, Any],
        rulebook: Rulebook,
        as_of: date,
    ) -> None:
        """A row of the bulk engine, which carries codes and no explanation."""
        line = summary(kind, subject_id, row, rulebook, as_of)
        if self._parquet is None:
            self._line(line)
            return
        subject = line.pop("subject")
        line.update(subject_kind=subject["kind"], subject_id=subject["id"], result=None)
        line["as_of"] = as_of
        self._add(line)

    def close(self) -> None:
        if self._parquet is not None:
            self._flush()
            self._parquet.close()
        if self._owned:
            self._handle.close()
        else:
            self._handle.flush()

    def _line(self, data: dict[str, Any]) -> None:
        self._handle.write(orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE))

    def _add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= ROWS_PER_GROUP:
            self._flush()

    def _flush(self) -> None:
        assert self._parquet is not None
        if self._rows:
            self._parquet.write_table(pa.Table.from_pylist(self._rows, schema=RESULT_SCHEMA))
            self._rows = []

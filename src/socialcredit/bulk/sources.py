"""Where the bulk engine's records come from: Parquet, JSON Lines, CSV or an Arrow table.

Every source becomes one DuckDB view, ``src``, with the flat columns (``records.FLAT_COLUMNS``)
under their flat names and types, so the pipeline is written once. DuckDB reads the files
itself, in parallel and without turning rows into Python objects; optional columns missing
from a file read as NULL, as an absent field does in the one-subject engine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

import pyarrow as pa

if TYPE_CHECKING:  # DuckDB is imported where a connection is made: the kernel needs none
    import duckdb
from socialcredit.records import FLAT_COLUMNS, REQUIRED_FLAT_COLUMNS

#: What ``score_all`` reads: a file path (by suffix) or an Arrow table with the flat columns.
Source: TypeAlias = str | os.PathLike[str] | pa.Table

_TYPES = {
    "occurred_on": "DATE",
    "reported_on": "DATE",
    "amount": "DOUBLE",
    "quantity": "DOUBLE",
}
_JSON_COLUMNS = {
    "provider": "VARCHAR",
    "ref": "VARCHAR",
    "subject": "STRUCT(kind VARCHAR, id VARCHAR, name VARCHAR)",
    "type": "VARCHAR",
    "occurred_on": "DATE",
    "reported_on": "DATE",
    "act": "VARCHAR",
    "amount": "DOUBLE",
    "quantity": "DOUBLE",
    "relates_to": "VARCHAR",
    "evidence": "VARCHAR",
    "legal_basis": "VARCHAR",
}


class SourceError(ValueError):
    """The records cannot be read: an unknown file kind or a required column missing."""


def register_source(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Create the view ``src`` over ``source`` with exactly the flat columns."""
    if isinstance(source, pa.Table):
        con.register("src_arrow", source)
        _flat_view(con, "src_arrow", set(source.column_names), blank_is_null=False)
        return
    path = Path(source)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    quoted = "'" + str(path).replace("'", "''") + "'"
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        relation = f"read_parquet({quoted})"
        _flat_view(con, relation, _columns(con, relation), blank_is_null=False)
    elif suffix == ".csv":
        relation = f"read_csv({quoted}, header = true, all_varchar = true)"
        _flat_view(con, relation, _columns(con, relation), blank_is_null=True)
    elif suffix in (".jsonl", ".ndjson", ".json"):
        columns = ", ".join(f"{k!r}: {v!r}" for k, v in _JSON_COLUMNS.items())
        relation = f"read_json({quoted}, format = 'newline_delimited', columns = {{{columns}}})"
        con.execute(
            "CREATE VIEW src AS SELECT provider, ref, subject.kind AS subject_kind, "
            "subject.id AS subject_id, subject.name AS subject_name, type, occurred_on, "
            "reported_on, act, amount, quantity, relates_to, evidence, legal_basis "
            f"FROM {relation}"
        )
    else:
        raise SourceError(f"{path}: expected .parquet, .jsonl or .csv, not {suffix or 'none'}")


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _flat_view(
    con: duckdb.DuckDBPyConnection, relation: str, present: set[str], *, blank_is_null: bool
) -> None:
    missing = [c for c in REQUIRED_FLAT_COLUMNS if c not in present]
    if missing:
        raise SourceError(f"required columns missing: {', '.join(missing)}")
    selected = []
    for column in FLAT_COLUMNS:
        sql_type = _TYPES.get(column, "VARCHAR")
        if column not in present:
            selected.append(f"CAST(NULL AS {sql_type}) AS {column}")
            continue
        value = f'"{column}"'
        if blank_is_null:
            value = f"NULLIF({value}, '')"
        selected.append(f"CAST({value} AS {sql_type}) AS {column}")
    con.execute(f"CREATE VIEW src AS SELECT {', '.join(selected)} FROM {relation}")

"""Records as flat columns: the typed Arrow shape of the CSV and Parquet record files.

One definition serves the demo's Parquet writer and the hand-over of records to the bulk
engine, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from socialcredit.records import FLAT_COLUMNS, Record

_DATE_COLUMNS = {"occurred_on", "reported_on"}
_NUMBER_COLUMNS = {"amount", "quantity"}

FLAT_SCHEMA = pa.schema(
    [
        (
            name,
            pa.date32()
            if name in _DATE_COLUMNS
            else pa.float64()
            if name in _NUMBER_COLUMNS
            else pa.string(),
        )
        for name in FLAT_COLUMNS
    ]
)


def flat_table(rows: Iterable[tuple[str, str, Record]]) -> pa.Table:
    """A table of records in ``FLAT_SCHEMA``, each under the (kind, id) given with it.

    The subject is passed separately because callers name it differently: the demo by its
    identifier, the bulk engine by whatever key groups a file's records.
    """
    columns: dict[str, list[Any]] = {name: [] for name in FLAT_COLUMNS}
    for kind, subject_id, r in rows:
        columns["provider"].append(r.provider)
        columns["ref"].append(r.ref)
        columns["subject_kind"].append(kind)
        columns["subject_id"].append(subject_id)
        columns["subject_name"].append(r.subject.name)
        columns["type"].append(r.type)
        columns["occurred_on"].append(r.occurred_on)
        columns["reported_on"].append(r.reported_on)
        columns["act"].append(r.act)
        columns["amount"].append(r.amount)
        columns["quantity"].append(r.quantity)
        columns["relates_to"].append(r.relates_to)
        columns["evidence"].append(r.evidence)
        columns["legal_basis"].append(r.legal_basis)
    return pa.Table.from_pydict(columns, schema=FLAT_SCHEMA)

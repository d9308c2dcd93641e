"""Every record the simulated population produced, as growing columns.

Records are kept as integers (agent, type index, day, ref) and turned into the flat record
columns (``flat.FLAT_SCHEMA``) only for the subjects being scored and when written out, so a
month's bookkeeping is array appends and one boolean selection rather than strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from socialcredit.flat import FLAT_SCHEMA
from socialcredit.records import Record, SubjectRef
from socialcredit.sim.behaviour import TypeTable
from socialcredit.sim.population import KINDS, Population

_EPOCH = date(1970, 1, 1)
_COLUMNS = {
    "agent": np.int32,
    "type": np.int16,
    "day": np.int32,  # days since 1970-01-01
    "amount": np.float64,  # NaN: none
    "quantity": np.float64,  # NaN: none
    "ref": np.int64,
    "relates": np.int64,  # -1: none
}


@dataclass(slots=True)
class Batch:
    """One month's new records, column by column (see ``_COLUMNS``)."""

    agent: np.ndarray
    type: np.ndarray
    day: np.ndarray
    amount: np.ndarray
    quantity: np.ndarray
    relates: np.ndarray

    def __len__(self) -> int:
        return len(self.agent)


class History:
    """Append-only columns of every simulated record, with room to grow."""

    def __init__(self, population: Population, table: TypeTable, capacity: int = 1 << 16):
        self.population = population
        self.table = table
        self.size = 0
        self.columns = {name: np.empty(capacity, dtype=t) for name, t in _COLUMNS.items()}
        self._codes = pa.array(table.codes, type=pa.string())
        self._providers = pa.array(table.providers, type=pa.string())
        self._kinds = pa.array([k.value for k in KINDS], type=pa.string())
        # Records as the one-subject engine takes them, made once per row when first asked
        # for: a subject is rescored many times, its old records never change.
        self._records: dict[int, Record] = {}
        self._subjects: dict[int, SubjectRef] = {}

    def __len__(self) -> int:
        return self.size

    def append(self, batch: Batch) -> np.ndarray:
        """Add a month's records; return the refs they were given (unique, increasing)."""
        n = len(batch)
        if self.size + n > len(self.columns["agent"]):
            capacity = max(2 * len(self.columns["agent"]), self.size + n)
            for name, column in self.columns.items():
                grown = np.empty(capacity, dtype=column.dtype)
                grown[: self.size] = column[: self.size]
                self.columns[name] = grown
        refs = np.arange(self.size + 1, self.size + n + 1, dtype=np.int64)
        end = self.size + n
        for name in ("agent", "type", "day", "amount", "quantity", "relates"):
            self.columns[name][self.size : end] = getattr(batch, name)
        self.columns["ref"][self.size : end] = refs
        self.size = end
        return refs

    def column(self, name: str) -> np.ndarray:
        return self.columns[name][: self.size]

    def rows_of(self, chosen: np.ndarray) -> np.ndarray:
        """Row numbers of every record of the agents flagged in the boolean ``chosen``."""
        return np.nonzero(chosen[self.column("agent")])[0]

    def records(self, rows: np.ndarray) -> list[Record]:
        """The records at ``rows`` as ``Record`` objects (for ``scoring.evaluate``)."""
        cache = self._records
        missing = [row for row in rows.tolist() if row not in cache]
        if missing:
            take = np.array(missing, dtype=np.int64)
            cols = {name: self.column(name)[take].tolist() for name in _COLUMNS}
            codes, providers = self.table.codes, self.table.providers
            for i, row in enumerate(missing):
                t, amount, quantity, relates = (
                    cols["type"][i],
                    cols["amount"][i],
                    cols["quantity"][i],
                    cols["relates"][i],
                )
                cache[row] = Record(
                    provider=providers[t],
                    ref=str(cols["ref"][i]),
                    subject=self._subject(cols["agent"][i]),
                    type=codes[t],
                    occurred_on=_EPOCH + timedelta(days=cols["day"][i]),
                    amount=None if amount != amount else amount,  # NaN: none
                    quantity=None if quantity != quantity else quantity,
                    relates_to=None if relates < 0 else str(relates),
                )
        return [cache[row] for row in rows.tolist()]

    def _subject(self, agent: int) -> SubjectRef:
        subject = self._subjects.get(agent)
        if subject is None:
            pop = self.population
            subject = SubjectRef(KINDS[pop.kind[agent]], pop.ids[agent].as_py())
            self._subjects[agent] = subject
        return subject

    def flat(self, rows: np.ndarray | None = None) -> pa.Table:
        """The records at ``rows`` (all when None) in the flat record columns."""
        cols = {name: self.column(name) for name in _COLUMNS}
        if rows is not None:
            cols = {name: c[rows] for name, c in cols.items()}
        agent = pa.array(cols["agent"])
        types = pa.array(cols["type"])
        n = len(agent)
        relates = cols["relates"]
        data = {
            "provider": self._providers.take(types),
            "ref": pc.cast(pa.array(cols["ref"]), pa.string()),
            "subject_kind": self._kinds.take(pa.array(self.population.kind[cols["agent"]])),
            "subject_id": self.population.ids.take(agent),
            "subject_name": pa.nulls(n, pa.string()),
            "type": self._codes.take(types),
            "occurred_on": pa.array(cols["day"], type=pa.int32()).cast(pa.date32()),
            "reported_on": pa.nulls(n, pa.date32()),
            "act": pa.nulls(n, pa.string()),
            "amount": pa.array(cols["amount"], mask=np.isnan(cols["amount"])),
            "quantity": pa.array(cols["quantity"], mask=np.isnan(cols["quantity"])),
            "relates_to": pc.cast(pa.array(relates, mask=relates < 0), pa.string()),
            "evidence": pa.nulls(n, pa.string()),
            "legal_basis": pa.nulls(n, pa.string()),
        }
        return pa.Table.from_pydict(data, schema=FLAT_SCHEMA)

    def write(self, path: str | Path) -> int:
        """Write every record as a Parquet records file (``scs score --records`` reads it)."""
        pq.write_table(self.flat(), path)
        return self.size

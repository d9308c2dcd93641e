"""The server's read cache: what the API reads again and again, kept until the registry changes.

A check reads the same things every time — the key, the rulebook, the measures it defines,
the allow-list of legacy codes, the subject's file and cases — and a railway asks about the
same travellers all day. Reading and parsing them on every request costs milliseconds; a
dictionary look-up costs nothing. The cache is only correct if it can never serve something
the registry no longer says, so it is tied to the registry's own hash chains, whose heads
every write moves in the same transaction:

- the **operator log** head moves with every change of configuration (a provider, a key, a
  rulebook activation, a legacy code, an erasure): everything is dropped;
- the **ledger** head moves with every record, correction and revocation: the files of the
  subjects those entries name are dropped, and only theirs;
- the **cases** head moves with every step of due process: the subjects of those cases are
  dropped;
- the **day** changes what counts (validity, deadlines that lapse unanswered): everything is
  dropped.

``refresh`` reads the heads in one query at the start of each request (the API's
``RegistryDep``), so a request that starts after a write commits never sees what the write
changed — in this process or any other. A value computed from a read that may have
started before a refresh is not stored (``generation`` is taken before the read and checked
before the store). The cache exists only in the server: CLI commands open the registry
without one and read the database every time, as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, PoolProxiedConnection, select
from sqlalchemy.engine.interfaces import DBAPICursor

from socialcredit import clock
from socialcredit.store.schema import case_events, cases, chain_heads, ledger, subjects

T = TypeVar("T")

LEDGER, OPERATOR_LOG, CASES = "ledger", "operator_log", "cases"
#: How many subjects' files are kept at most; the least recently used go first.
MAX_SUBJECTS = 200_000
_HEADS_SQL = "SELECT chain, seq FROM chain_heads"
#: What ``get`` returns for a value not kept (None is a value).
MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Heads:
    """Where the chains that change what a read returns stand, and the day."""

    ledger: int
    operator_log: int
    cases: int
    day: date


def read_heads(conn: Connection) -> Heads:
    seqs = dict(conn.execute(select(chain_heads.c.chain, chain_heads.c.seq)).all())
    return heads_of(seqs)


def heads_of(seqs: dict[str, int]) -> Heads:
    return Heads(
        int(seqs.get(LEDGER, 0)),
        int(seqs.get(OPERATOR_LOG, 0)),
        int(seqs.get(CASES, 0)),
        clock.today(),
    )


class ReadCache:
    def __init__(self, max_subjects: int = MAX_SUBJECTS) -> None:
        self.max_subjects = max_subjects
        self.heads: Heads | None = None
        self.generation = 0
        self._config: dict[tuple[Hashable, ...], Any] = {}
        self._subjects: OrderedDict[int, dict[Hashable, Any]] = OrderedDict()
        #: Subject row ids by keyed hash. An id never changes once a subject has one, so only
        #: a change of configuration (an erasure among them) drops these; that a subject has
        #: *no* id yet is not kept here (a ledger write may give it one).
        self._ids: dict[str, int] = {}
        #: Keyed hashes known to have no subject row (no record names them): a ledger write
        #: drops those of the subjects it touched (a new subject is always among them).
        self._no_file: set[str] = set()
        self._lock = threading.Lock()
        self._heads_conn: PoolProxiedConnection | None = None
        self._heads_cursor: DBAPICursor | None = None
        self._heads_lock = threading.Lock()

    def refresh_from(self, engine: Engine) -> None:
        """``refresh``, reading the heads on SQLite through a connection of the cache's own
        (a pooled connection costs more to check out than the query costs to run)."""
        if engine.dialect.name != "sqlite":
            with engine.connect() as conn:
                self.refresh(conn)
            return
        with self._heads_lock:
            try:
                if self._heads_conn is None or self._heads_cursor is None:
                    self._heads_conn = engine.raw_connection()
                    # One cursor for good: making one per request cost as much as the query.
                    self._heads_cursor = self._heads_conn.cursor()
                # Autocommit: each read sees the last commit.
                self._heads_cursor.execute(_HEADS_SQL)
                seqs = dict(self._heads_cursor.fetchall())
            except Exception:
                if self._heads_conn is not None:
                    self._heads_conn.invalidate()
                self._heads_conn = self._heads_cursor = None
                raise
        now = heads_of(seqs)
        if now != self.heads:
            with engine.connect() as conn:
                self.refresh(conn, now)

    def refresh(self, conn: Connection, now: Heads | None = None) -> None:
        """Drop what the writes since the last refresh made stale (see the module doc)."""
        now = now or read_heads(conn)
        with self._lock:
            old = self.heads
            if now == old:
                return
            if old is None or now.operator_log != old.operator_log or now.day != old.day:
                self._config = {}
                self._subjects = OrderedDict()
                self._ids = {}
                self._no_file = set()
            else:
                touched = _touched_subjects(conn, old, now)
                for subject in touched:
                    self._subjects.pop(subject, None)
                # A subject comes into existence only with a ledger write, and then it is among
                # the touched: those keyed hashes are no longer without a file. Look-ups by
                # number are dropped wholesale (they are cheap to redo and rarely hot).
                if now.ledger != old.ledger:
                    self._config = {k: v for k, v in self._config.items() if k[0] != "subject"}
                    if self._no_file:
                        self._no_file.difference_update(_keys_of(conn, touched))
            self.heads = now
            self.generation += 1

    def config(self, key: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """A value that depends on the configuration (and, for ``("subject", …)`` keys, on
        which subjects exist)."""
        try:
            found: T = self._config[key]
            return found
        except KeyError:
            pass
        generation = self.generation
        value = compute()
        if generation == self.generation:
            self._config[key] = value
        return value

    def subject_id(self, keyed: str) -> int | None:
        """The row id of the subject with keyed hash ``keyed``, if known to have one."""
        return self._ids.get(keyed)

    def remember_ids(self, generation: int, found: dict[str, int], none: Iterable[str]) -> None:
        """Ids found (kept for good), and keyed hashes found to have none (kept until the
        next ledger write, if nothing was dropped since ``generation``)."""
        self._ids.update(found)
        with self._lock:
            if generation == self.generation:
                self._no_file.update(none)

    def by_keyed_hash(self, keyed: Iterable[str], key: Hashable, no_file: Any) -> dict[str, Any]:
        """The values kept under ``key`` for the subjects with keyed hashes ``keyed``, and
        ``no_file`` for those known to have none; those neither kept nor known are left out.
        ``subject_id`` and ``get`` in one loop, for a batch check's 10,000 subjects."""
        ids, no_files, subjects_ = self._ids, self._no_file, self._subjects
        found: dict[str, Any] = {}
        for k in keyed:
            if k in no_files:
                found[k] = no_file
                continue
            subject = ids.get(k)
            entries = None if subject is None else subjects_.get(subject)
            if entries is not None:
                value = entries.get(key, MISSING)
                if value is not MISSING:
                    found[k] = value
        return found

    def has_no_file(self, keyed: str) -> bool:
        return keyed in self._no_file

    def get(self, subject_id: int, key: Hashable) -> Any:
        """A value kept for the subject, or ``MISSING``."""
        entries = self._subjects.get(subject_id)
        return MISSING if entries is None else entries.get(key, MISSING)

    def put(self, generation: int, subject_id: int, key: Hashable, value: Any) -> None:
        """Keep ``value`` if nothing was dropped since ``generation`` was read (before the
        reads the value comes from)."""
        with self._lock:
            if generation != self.generation:
                return
            entries = self._subjects.setdefault(subject_id, {})
            entries[key] = value
            self._subjects.move_to_end(subject_id)
            while len(self._subjects) > self.max_subjects:
                self._subjects.popitem(last=False)

    def subject(self, subject_id: int, key: Hashable, compute: Callable[[], T]) -> T:
        """A value that depends on one subject's records and cases."""
        entries = self._subjects.get(subject_id)
        if entries is not None and key in entries:
            found: T = entries[key]
            return found
        generation = self.generation
        value = compute()
        self.put(generation, subject_id, key, value)
        return value


def _keys_of(conn: Connection, subject_ids: set[int]) -> set[str]:
    found: set[str] = set()
    ordered = sorted(subject_ids)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        found.update(conn.execute(select(subjects.c.key).where(subjects.c.id.in_(chunk))).scalars())
    return found


def _touched_subjects(conn: Connection, old: Heads, now: Heads) -> set[int]:
    touched: set[int] = set()
    if now.ledger != old.ledger:
        touched.update(
            conn.execute(
                select(ledger.c.subject_id)
                .where(ledger.c.seq > old.ledger, ledger.c.seq <= now.ledger)
                .distinct()
            ).scalars()
        )
    if now.cases != old.cases:
        touched.update(
            conn.execute(
                select(cases.c.subject_id)
                .join(case_events, case_events.c.case_id == cases.c.id)
                .where(case_events.c.seq > old.cases, case_events.c.seq <= now.cases)
                .distinct()
            ).scalars()
        )
    return touched

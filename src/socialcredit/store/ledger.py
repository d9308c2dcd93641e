"""The ledger: appending records in batches, amending them, and verifying the hash chain.

Every write happens inside one transaction that first locks the chain head, so a batch lands
whole or not at all and the chain never forks. An entry's content hash covers the very values
that are stored (``intake.content_of``), and ``verify`` recomputes it from the row read back,
so any edit of a stored value, or of a subject's key, shows up as the first bad entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from socialcredit.chain import GENESIS, entry_hash
from socialcredit.intake import CONTENT_COLUMNS, PreparedRow, content_digest, content_of
from socialcredit.records import FieldError
from socialcredit.store.database import insert_rows, insert_sql, placeholder, select_in
from socialcredit.store.schema import chain_heads, ledger, subjects

LEDGER = "ledger"
#: What erasing an entry blanks: everything about the conduct and the person. Kind, provider,
#: ref, amends and time stay, so the chain, the provider's ref and the history's shape remain.
ERASED_COLUMNS = (
    "type",
    "occurred_on",
    "reported_on",
    "act",
    "amount",
    "quantity",
    "relates_to",
    "evidence",
    "legal_basis",
    "subject_name",
    "reason",
)

#: Column order of the tuples ``insert_entries`` takes.
ENTRY_COLUMNS = (
    "seq",
    "subject_id",
    *CONTENT_COLUMNS,
    "recorded_at",
    "content_hash",
    "entry_hash",
)


@dataclass(frozen=True, slots=True)
class SubjectEntry:
    """A subject as stored: its id, kind and keyed hash."""

    id: int
    kind: str
    key: str


@dataclass(slots=True)
class BatchResult:
    """What became of each submitted item, by its position in the batch."""

    accepted: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    rejected: dict[int, list[FieldError]] = field(default_factory=dict)
    #: The ledger's last sequence number once the batch is in (0 if nothing was read).
    seq: int = 0


class AmendError(ValueError):
    """A revocation or correction cannot be applied; the message says why."""


class NoRecord(AmendError):
    """The provider has no current record under that ref (another provider's counts as none)."""


class AlreadyAmended(AmendError):
    """The record was revoked or corrected already, or the amendment's own ref is taken."""


class ChainError(RuntimeError):
    """A chain head is missing: the database was not initialised, or was tampered with."""


def create_heads(conn: Connection, chains: Sequence[str]) -> None:
    """Create the head rows of new chains (at ``scs init``, before any writer can race)."""
    existing = set(conn.execute(select(chain_heads.c.chain)).scalars())
    for chain in chains:
        if chain not in existing:
            conn.execute(chain_heads.insert().values(chain=chain, seq=0, entry_hash=GENESIS))


def lock_head(conn: Connection, chain: str = LEDGER) -> tuple[int, bytes]:
    """Lock and return the chain head (seq, hash): every writer of ``chain`` queues here.

    Written at the driver (the statements are fixed): every audited check passes through
    here, and SQLAlchemy's statement building cost more than the query."""
    sqlite = conn.dialect.name == "sqlite"
    row = conn.exec_driver_sql(
        LOCK_HEAD_SQLITE if sqlite else _LOCK_HEAD_FOR_UPDATE, (chain,)
    ).first()
    if row is None:
        raise ChainError(
            f"the head of the {chain} chain is missing: initialise the database with "
            "`scs init`, or run `scs verify` if it was initialised"
        )
    return int(row[0]), bytes(row[1])


def set_head(conn: Connection, seq: int, head: bytes, chain: str = LEDGER) -> None:
    sqlite = conn.dialect.name == "sqlite"
    conn.exec_driver_sql(SET_HEAD_SQLITE if sqlite else _SET_HEAD, (seq, head, chain))


# SQLite takes its write lock at BEGIN IMMEDIATE (``database.WRITER``) and has no FOR UPDATE.
LOCK_HEAD_SQLITE = "SELECT seq, entry_hash FROM chain_heads WHERE chain = ?"
_LOCK_HEAD_FOR_UPDATE = "SELECT seq, entry_hash FROM chain_heads WHERE chain = %s FOR UPDATE"
SET_HEAD_SQLITE = "UPDATE chain_heads SET seq = ?, entry_hash = ? WHERE chain = ?"
_SET_HEAD = "UPDATE chain_heads SET seq = %s, entry_hash = %s WHERE chain = %s"


def append_prepared(
    conn: Connection, items: Sequence[PreparedRow], resolver: SubjectResolver, recorded_at: str
) -> BatchResult:
    """Append prepared records in the caller's writer transaction (``database.WRITER``).

    A ref already stored with identical content is a duplicate; with different content it is
    rejected, as is a second, different use of a ref within the batch. The caller commits, so
    the batch lands whole or not at all. This loop is the serial part of every import, so it
    unpacks plain tuples rather than calling accessors, and it builds each row already
    grouped by the columns it has values for (the item's ``present`` mask), to be inserted
    naming only those: ``database.insert_rows`` explains why NULLs are not bound.
    """
    result = BatchResult()
    seq, head = lock_head(conn)
    known = resolver.ensure(conn, items)

    # One pass does it all for the usual batch (new refs, known kinds): resolve, drop
    # in-batch repeats, number and chain. ``chain.entry_hash`` is written out inline.
    sha256, stamp = hashlib.sha256, recorded_at.encode()
    # present mask -> (its insert, its picker, its rows)
    by_layout: dict[int, tuple[str, Callable[[tuple[Any, ...]], tuple[Any, ...]], list[Any]]]
    by_layout = {}
    pending: list[tuple[int, int, tuple[Any, ...], bytes]] = []
    first_of: dict[tuple[str, str], tuple[int, bytes]] = {}
    repeats: list[tuple[int, int]] = []  # (position, position of the identical first copy)
    next_seq, next_head = seq, head
    optimistic = conn.dialect.name == "sqlite"  # see below; PostgreSQL chains after a lookup
    for pos, (kind, key, _display, content, digest, present) in enumerate(items):
        entry = known[key]
        if entry.kind != kind:
            result.rejected[pos] = [_kind_conflict(entry, kind)]
            continue
        ident = (content[1], content[2])
        earlier = first_of.get(ident)
        if earlier is None:
            first_of[ident] = (pos, digest)
            pending.append((pos, entry.id, content, digest))
            if optimistic:
                next_seq += 1
                head_in = next_head + next_seq.to_bytes(8, "big") + stamp + digest
                next_head = sha256(head_in).digest()
                group = by_layout.get(present)
                if group is None:
                    group = by_layout[present] = (*_layout(present), [])
                group[2].append(
                    (next_seq, entry.id, *group[1](content), recorded_at, bytearray(digest),
                     bytearray(next_head))
                )  # fmt: skip
        elif earlier[1] == digest:
            repeats.append((pos, earlier[0]))
        else:
            result.rejected[pos] = [_ref_conflict(ident[1], "earlier in this batch")]

    # Optimistic on SQLite: most imports bring new refs, so insert without looking any up; a
    # unique violation rolls back to the savepoint and the batch is redone against what is
    # stored. (PostgreSQL aborts psycopg's executemany pipeline on the first violation, so
    # there the lookup comes first.) The optimistic rows are in ``by_layout``, not here.
    chained = _Chained([], [p[0] for p in pending], [], {}, next_seq, next_head)
    if optimistic:
        try:
            with conn.begin_nested():
                for sql, _, group_rows in by_layout.values():
                    conn.exec_driver_sql(sql, group_rows)
        except IntegrityError:
            chained = _chain(pending, _stored_hashes(conn, list(first_of)), seq, head, stamp,
                             recorded_at)  # fmt: skip
            insert_entries(conn, chained.rows)
    else:
        chained = _chain(pending, _stored_hashes(conn, list(first_of)), seq, head, stamp,
                         recorded_at)  # fmt: skip
        insert_entries(conn, chained.rows)
    result.accepted = chained.accepted
    result.duplicates.extend(chained.duplicates)
    result.rejected.update(chained.rejected)
    # An identical repeat within the batch shares the fate of its first copy: a duplicate if
    # that landed or was already stored, rejected for the same reason if that was refused.
    for pos, first in repeats:
        if first in chained.rejected:
            result.rejected[pos] = chained.rejected[first]
        else:
            result.duplicates.append(pos)
    if chained.seq != seq:  # something landed
        set_head(conn, chained.seq, chained.head)
    result.seq = chained.seq
    return result


@lru_cache(maxsize=256)  # one entry per combination of columns seen: a few dozen at most
def _layout(present: int) -> tuple[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    """The SQLite insert of a ledger row naming the content columns ``present`` marks, and
    the function picking their values from a content tuple."""
    kept = [i for i in range(len(CONTENT_COLUMNS)) if present >> i & 1]
    if len(kept) < 2:  # kind, provider and ref always have values; ``itemgetter`` needs two
        raise ValueError(f"a ledger entry without kind, provider and ref: {present:b}")
    columns = ("seq", "subject_id", *(CONTENT_COLUMNS[i] for i in kept), *ENTRY_COLUMNS[-3:])
    return insert_sql("ledger", columns, "?"), itemgetter(*kept)


@dataclass(slots=True)
class _Chained:
    rows: list[tuple[Any, ...]]
    accepted: list[int]
    duplicates: list[int]
    rejected: dict[int, list[FieldError]]
    seq: int
    head: bytes


def _chain(
    pending: Sequence[tuple[int, int, tuple[Any, ...], bytes]],
    stored: dict[tuple[str, str], bytes],
    seq: int,
    head: bytes,
    stamp: bytes,
    recorded_at: str,
) -> _Chained:
    """Number and chain the pending entries that are not already ``stored``."""
    out = _Chained([], [], [], {}, seq, head)
    for pos, subject_id, content, digest in pending:
        existing = stored.get((content[1], content[2]))
        if existing is not None:
            if existing == digest:
                out.duplicates.append(pos)
            else:
                out.rejected[pos] = [_ref_conflict(content[2], "already in the ledger")]
            continue
        seq += 1
        head = entry_hash(head, seq, stamp, digest)
        out.rows.append(
            (seq, subject_id, *content, recorded_at, bytearray(digest), bytearray(head))
        )
        out.accepted.append(pos)
    out.seq, out.head = seq, head
    return out


def insert_entries(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert complete ledger rows (``ENTRY_COLUMNS`` order) at the driver.

    Bypasses SQLAlchemy's per-row parameter processing, which costs more than SQLite's own
    insert at import rates, and binds no NULLs (``database.insert_rows``; the appenders pass
    the two hashes as ``bytearray`` for the same reason); dates arrive as ISO text, which is
    how SQLAlchemy's SQLite dialect stores them and what PostgreSQL casts to ``date``.
    """
    insert_rows(conn, "ledger", ENTRY_COLUMNS, rows)


def _kind_conflict(entry: SubjectEntry, kind: str) -> FieldError:
    return FieldError("subject.kind", f"this subject is registered as {entry.kind}, not {kind}")


def _ref_conflict(ref: str, where: str) -> FieldError:
    return FieldError(
        "ref",
        f"{ref!r} is {where} with different content; records are never changed — "
        "submit a correction instead",
    )


def _stored_hashes(
    conn: Connection, idents: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], bytes]:
    """Content hashes already stored under the given (provider, ref) pairs."""
    by_provider: dict[str, list[str]] = {}
    for provider, ref in idents:
        by_provider.setdefault(provider, []).append(ref)
    found: dict[tuple[str, str], bytes] = {}
    for provider, refs in by_provider.items():
        for ref, digest in select_in(
            conn,
            "SELECT ref, content_hash FROM ledger WHERE provider = {mark} AND ref IN ({marks})",
            refs,
            (provider,),
        ):
            found[(provider, ref)] = bytes(digest)
    return found


_SUBJECT_COLUMNS = ("id", "kind", "key", "display", "name")


class SubjectResolver:
    """Maps subject keys to subject rows, creating subjects the first time they are seen.

    Keeps a cache for the life of an import: a city's million records name a few hundred
    thousand subjects, and each lookup saved is a round trip saved. After a rolled-back
    transaction the cache must be dropped (``forget``), since subjects it created may be gone.
    New subjects get their ids here, one past the largest, which is safe because every caller
    holds the chain-head lock: no other writer can be adding subjects meanwhile.
    """

    def __init__(self) -> None:
        self._cache: dict[str, SubjectEntry] = {}

    def ensure(self, conn: Connection, items: Sequence[PreparedRow]) -> dict[str, SubjectEntry]:
        """Make sure every subject the items name is stored; return the key → subject map."""
        cache = self._cache
        unknown = {item[1]: item for item in items if item[1] not in cache}
        if unknown:
            self._load(conn, unknown)
            # In key order: the unique index on the (random) keys is then filled page by
            # page instead of all over, which makes a new subject a fifth cheaper.
            new = sorted((item for key, item in unknown.items() if key not in cache), key=_key_of)
            if new:
                first = (
                    int(
                        conn.execute(select(func.coalesce(func.max(subjects.c.id), 0))).scalar_one()
                    )
                    + 1
                )
                rows = [
                    (first + n, kind, key, display, content[12])
                    for n, (kind, key, display, content, *_) in enumerate(new)
                ]
                # Not ``insert_rows``: grouping by NULL names would undo the key order.
                conn.exec_driver_sql(
                    insert_sql("subjects", _SUBJECT_COLUMNS, placeholder(conn)), rows
                )
                for sid, kind, key, _, _ in rows:
                    cache[key] = SubjectEntry(sid, kind, key)
        return cache

    def ids(
        self, conn: Connection, items: Sequence[PreparedRow]
    ) -> list[SubjectEntry | FieldError]:
        """Each item's subject, or why the item cannot name it (a kind other than stored)."""
        known = self.ensure(conn, items)
        out: list[SubjectEntry | FieldError] = []
        for kind, key, *_ in items:
            entry = known[key]
            out.append(entry if entry.kind == kind else _kind_conflict(entry, kind))
        return out

    def id_of(self, key: str) -> int:
        """The row id of a subject ``ensure`` has seen in this transaction."""
        return self._cache[key].id

    def forget(self) -> None:
        self._cache.clear()

    def _load(self, conn: Connection, keys: Iterable[str]) -> None:
        for sid, kind, key in select_in(
            conn, "SELECT id, kind, key FROM subjects WHERE key IN ({marks})", list(keys)
        ):
            self._cache[key] = SubjectEntry(sid, kind, key)


# -- amendments -------------------------------------------------------------------------------
def amend(
    conn: Connection,
    provider: str,
    target_ref: str,
    reason: str,
    recorded_at: str,
    own_ref: str,
    replacement: tuple[PreparedRow, SubjectEntry] | None = None,
) -> int:
    """Append a revocation (no ``replacement``) or a correction of a record; return its seq.

    Only the current version of a record can be amended: a revoked record stays revoked, and a
    corrected one is corrected again through its correction.
    """
    seq, head = lock_head(conn)
    target = conn.execute(
        select(
            ledger.c.seq,
            ledger.c.kind,
            ledger.c.subject_id,
            subjects.c.kind.label("skind"),
            subjects.c.key,
        )
        .join(subjects, subjects.c.id == ledger.c.subject_id)
        .where(ledger.c.provider == provider, ledger.c.ref == target_ref)
    ).first()
    if target is None or target.kind not in ("record", "correction"):
        raise NoRecord(f"provider {provider!r} has no record with ref {target_ref!r}")
    later = conn.execute(
        select(ledger.c.kind, ledger.c.ref).where(ledger.c.amends == target.seq)
    ).first()
    if later is not None:
        raise AlreadyAmended(
            f"record {target_ref!r} was already amended by {later.kind} {later.ref!r}"
            + ("; amend that correction instead" if later.kind == "correction" else "")
        )
    if conn.execute(
        select(ledger.c.seq).where(ledger.c.provider == provider, ledger.c.ref == own_ref)
    ).first():
        raise AlreadyAmended(f"ref {own_ref!r} is already used by provider {provider!r}")
    if replacement is None:
        content: tuple[Any, ...] = (
            "revocation",
            provider,
            own_ref,
            *([None] * 10),
            target.seq,
            reason,
        )
        subject_id, skind, skey = target.subject_id, target.skind, target.key
    else:
        prepared, subject = replacement
        content = ("correction", *prepared[3][1:13], target.seq, reason)
        subject_id, skind, skey = subject.id, subject.kind, subject.key
    digest = content_digest(skind, skey, content)
    seq += 1
    head = entry_hash(head, seq, recorded_at, digest)
    insert_entries(conn, [(seq, subject_id, *content, recorded_at, digest, head)])
    set_head(conn, seq, head)
    return seq


# -- verification -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainProblem:
    chain: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"{self.chain} entry {self.seq}: {self.problem}"


def verify_ledger(
    conn: Connection,
    anchors: Mapping[int, bytes] | None = None,
    batch: int = 10_000,
    erased: frozenset[int] = frozenset(),
) -> tuple[int, ChainProblem | None]:
    """Recompute the ledger chain; return the entries checked and the first problem found.

    ``anchors`` are entry hashes recorded outside the database (seq -> hash): an entry that
    no longer hashes to its anchor means history was rewritten, chain and all. ``erased``
    entries (``store.archive``) had their personal data blanked after the retention period:
    their stored content hash is taken as it is, and they must hold no personal data.
    """
    anchors = anchors or {}
    query = (
        select(ledger, subjects.c.kind.label("subject_kind"), subjects.c.key.label("subject_key"))
        .join(subjects, subjects.c.id == ledger.c.subject_id, isouter=True)
        .order_by(ledger.c.seq)
    )
    expected_seq, head, checked = 0, GENESIS, 0
    for row in conn.execution_options(yield_per=batch).execute(query):
        expected_seq += 1
        data = row._mapping
        if data["seq"] != expected_seq:
            return checked, ChainProblem(
                LEDGER, expected_seq, f"missing (next stored entry is {data['seq']})"
            )
        if data["subject_key"] is None:
            return checked, ChainProblem(LEDGER, expected_seq, "its subject row is missing")
        if expected_seq in erased:
            digest = bytes(data["content_hash"])
            if any(data[c] is not None for c in ERASED_COLUMNS):
                return checked, ChainProblem(
                    LEDGER, expected_seq, "marked erased but still holds personal data"
                )
        else:
            digest = content_digest(data["subject_kind"], data["subject_key"], content_of(data))
        if digest != bytes(data["content_hash"]):
            return checked, ChainProblem(
                LEDGER, expected_seq, "content altered (stored values do not match its hash)"
            )
        head = entry_hash(head, expected_seq, data["recorded_at"], digest)
        if head != bytes(data["entry_hash"]):
            return checked, ChainProblem(
                LEDGER, expected_seq, "chain broken (hash does not follow from the entry before)"
            )
        if anchors.get(expected_seq, head) != head:
            return checked, ChainProblem(
                LEDGER, expected_seq, "does not match its anchor: the history was rewritten"
            )
        checked += 1
    beyond = [seq for seq in anchors if seq > expected_seq]
    if beyond:
        return checked, ChainProblem(
            LEDGER, min(beyond), "anchored, but the ledger ends before it: entries were removed"
        )
    return checked, check_head(conn, LEDGER, expected_seq, head)


def check_head(conn: Connection, chain: str, seq: int, head: bytes) -> ChainProblem | None:
    """Compare the recomputed end of a chain with its stored head (catches cut-off tails)."""
    stored = conn.execute(
        select(chain_heads.c.seq, chain_heads.c.entry_hash).where(chain_heads.c.chain == chain)
    ).first()
    stored_seq, stored_hash = (
        (0, GENESIS) if stored is None else (int(stored.seq), bytes(stored.entry_hash))
    )
    if stored_seq != seq:
        return ChainProblem(chain, seq + 1, f"missing (the chain head says {stored_seq} entries)")
    if stored_hash != head:
        return ChainProblem(chain, seq, "the last entry does not match the chain head")
    return None


def _key_of(item: PreparedRow) -> str:
    return item[1]

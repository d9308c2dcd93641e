"""Expiry and erasure: personal data is erased once the rulebook's retention period is over.

A record past its validity stops counting and stays in reports as history (the engine's
``expired`` status). Past the **retention** period after that (the rulebook's ``retention``,
else its ``[validity] history``; a rulebook with neither keeps records) the entry's content
columns are blanked (``ledger.ERASED_COLUMNS``).

Why blanking and not per-subject encryption keys: the chain links entry hashes, and an entry
hash covers the *content hash*, not the content. Keeping the stored content hash while
blanking the columns leaves every link intact, so ``scs verify`` still proves that nothing
else was changed, removed or reordered, with no key store to back up or lose. To stop
erasure being used to hide tampering, every erased entry is listed in an operator-log entry
(``ledger.erase``, itself chained), and ``verify`` accepts a blank entry only if it is
listed there and holds no data. The residual risk, documented for operators: someone holding
a database copy *and* the identifier secret could confirm a guess of an erased entry's type
and date against its content hash; evidence texts are beyond guessing.

An entry is erased only when every active rulebook that scores it has let it go, so a
record still counting or shown under one scheme is never erased for another's sake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, select, update

from socialcredit import clock
from socialcredit.rulebook.model import ONE_DAY, Period, Rulebook
from socialcredit.scoring import Status, evaluate
from socialcredit.store import ledger, queries
from socialcredit.store.schema import ledger as ledger_table
from socialcredit.store.schema import operator_log, shredded, subjects

if TYPE_CHECKING:
    from socialcredit.store.registry import Registry

ACTION = "ledger.erase"


@dataclass(frozen=True, slots=True)
class ErasureSummary:
    as_of: date
    erased: int
    subjects: int

    def to_json(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "erased": self.erased, "subjects": self.subjects}


def retention(book: Rulebook) -> Period | None:
    return book.meta.retention or book.validity.history


def due(file: queries.SubjectFile, books: list[Rulebook], as_of: date) -> list[tuple[str, str]]:
    """The (provider, ref) of the subject's records whose retention is over under every
    rulebook that scores them (pure: records, rulebooks and a day in)."""
    verdicts: dict[tuple[str, str], bool] = {}
    for book in books:
        keep = retention(book)
        result = evaluate(file.records, book, as_of, file.subject.kind)
        for c in result.contributions:
            key = (c.provider, c.ref)
            if c.status is Status.NOT_SCORED:
                continue
            over = (
                keep is not None
                and c.valid_until is not None
                and as_of >= keep.end(c.valid_until + ONE_DAY)
            )
            verdicts[key] = verdicts.get(key, True) and over
    gone = {key for key, over in verdicts.items() if over}
    # A record another kept record relates to (a listing and its repair) goes with it.
    needed = {r.relates_to for r in file.records if (r.provider, r.ref) not in gone}
    return sorted(key for key in gone if key[1] not in needed)


def erase_expired(
    registry: Registry, as_of: date | None = None, actor: str | None = None
) -> ErasureSummary:
    """Erase every entry past retention, subject by subject; logged in the operator log."""
    moment = as_of or clock.today()
    names = [a.name for a in registry.active_rulebooks()] or ["rongcheng"]
    books = [registry.rulebook(n) for n in names]
    with registry.engine.connect() as conn:
        ids = list(conn.execute(select(subjects.c.id)).scalars())
    erased = touched = 0
    for subject_id in ids:
        with registry.engine.connect() as conn:
            file = queries.read_file(conn, subject_id)
        refs = due(file, books, moment)
        if not refs:
            continue
        with registry.writing() as conn:
            seqs = _erase(conn, subject_id, refs)
            if seqs:
                registry.log_action(
                    conn,
                    ACTION,
                    {"seqs": seqs, "as_of": moment.isoformat(), "rulebooks": names},
                    actor,
                )
        erased += len(seqs)
        touched += bool(seqs)
    return ErasureSummary(moment, erased, touched)


def _erase(conn: Connection, subject_id: int, refs: list[tuple[str, str]]) -> list[int]:
    seqs = []
    stamp = clock.timestamp()
    for provider, ref in refs:
        seq = conn.execute(
            select(ledger_table.c.seq).where(
                ledger_table.c.provider == provider,
                ledger_table.c.ref == ref,
                ledger_table.c.subject_id == subject_id,
            )
        ).scalar()
        if seq is None:
            continue
        conn.execute(
            update(ledger_table)
            .where(ledger_table.c.seq == seq)
            .values(dict.fromkeys(ledger.ERASED_COLUMNS))
        )
        conn.execute(
            shredded.insert().values(seq=seq, shredded_at=stamp, reason="retention period over")
        )
        seqs.append(int(seq))
    kept = conn.execute(
        select(ledger_table.c.seq).where(
            ledger_table.c.subject_id == subject_id, ledger_table.c.type.isnot(None)
        )
    ).first()
    if seqs and kept is None:  # nothing left on file: the name goes too (the keyed hash stays
        # for the chain, and cannot be turned back into a number without the secret)
        conn.execute(update(subjects).where(subjects.c.id == subject_id).values(name=None))
    return seqs


def erased_seqs(conn: Connection) -> tuple[frozenset[int], str | None]:
    """The erased entries, and a problem if the table and the operator log disagree."""
    marked = frozenset(int(s) for s in conn.execute(select(shredded.c.seq)).scalars())
    logged: set[int] = set()
    for detail in conn.execute(
        select(operator_log.c.detail).where(operator_log.c.action == ACTION)
    ).scalars():
        logged.update(orjson.loads(detail)["seqs"])
    if marked != logged:
        odd = sorted(marked ^ logged)
        return marked & logged, f"erasure of entries {odd[:5]} is not in the operator log"
    return marked, None

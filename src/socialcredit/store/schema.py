"""The registry's tables, one schema for SQLite and PostgreSQL (SQLAlchemy Core).

The ``ledger`` is the only place facts live: records, corrections and revocations, appended
with explicit sequence numbers and chained by hash. ``subjects`` maps each subject's keyed hash
to a small integer id and a display form; the raw resident number is never stored. The
``operator_log`` is a second hash chain for what operators do (providers, record types, legacy
codes, rulebook activations), so that who allowed what is as tamper-evident as the records
themselves. ``rulebooks`` keeps the text of every rulebook version ever activated, and
``results`` a derived snapshot of scores for lists and analytics (checks evaluate at read time).

Timestamps are stored as ISO-8601 UTC text so that both databases hand back the exact string
the entry hash was computed over.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False, unique=True),
    Column("display", String(32), nullable=False),
    Column("name", String(200)),
)

record_types = Table(
    "record_types",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("category", String(64), nullable=False),
    Column("polarity", String(16), nullable=False),
    Column("subject_kinds", String(64), nullable=False),
    Column("source", String(64), nullable=False),
)

providers = Table(
    "providers",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("type_patterns", Text, nullable=False),
)

legacy_codes = Table(
    "legacy_codes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("reason", Text, nullable=False),
)

ledger = Table(
    "ledger",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("kind", String(16), nullable=False),  # record | correction | revocation
    Column("provider", String(64), nullable=False),
    Column("ref", String(128), nullable=False),
    Column("subject_id", Integer, ForeignKey("subjects.id"), nullable=False),
    Column("type", String(64)),
    Column("occurred_on", Date),
    Column("reported_on", Date),
    Column("act", String(128)),
    Column("amount", Float),
    Column("quantity", Float),
    Column("relates_to", String(128)),
    Column("evidence", Text),
    Column("legal_basis", Text),
    Column("subject_name", String(200)),
    Column("amends", BigInteger().with_variant(Integer, "sqlite")),  # seq of the amended entry
    Column("reason", Text),
    Column("recorded_at", String(32), nullable=False),
    Column("content_hash", LargeBinary(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("provider", "ref", name="uq_ledger_provider_ref"),
)
Index("ix_ledger_subject", ledger.c.subject_id)
# Partial: only amendments carry ``amends``, so records cost this index nothing.
Index(
    "ix_ledger_amends",
    ledger.c.amends,
    sqlite_where=ledger.c.amends.isnot(None),
    postgresql_where=ledger.c.amends.isnot(None),
)

operator_log = Table(
    "operator_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("action", String(64), nullable=False),
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("actor", String(128), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
)

#: One row per hash chain: the last sequence number and entry hash. Writers lock this row
#: (SELECT … FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) so chains never fork.
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("chain", String(32), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
)

#: Every activation of a rulebook, with the TOML text exactly as published: the latest row of a
#: name is its active version, and any version that ever scored anyone can be re-read.
rulebooks = Table(
    "rulebooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("toml", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("activated_at", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
)
Index("ix_rulebooks_name", rulebooks.c.name)

#: A snapshot of every subject's result under one rulebook version at one moment, written by
#: ``scs rescore`` for lists and analytics; replaced whole per (rulebook, version, as_of).
results = Table(
    "results",
    metadata,
    Column("subject_id", Integer, ForeignKey("subjects.id"), nullable=False),
    Column("rulebook", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("score", Integer, nullable=False),
    Column("grade", String(32), nullable=False),
    Column("lists", Text, nullable=False),  # JSON array of list codes
    Column("computed_at", String(32), nullable=False),
    PrimaryKeyConstraint("rulebook", "version", "as_of", "subject_id", name="pk_results"),
)

#: API keys. The key itself is shown once and only its SHA-256 is kept, so a copy of the
#: database lets no one call the API. A subject key names its subject by keyed hash, as
#: ``subjects`` does, so it works before the subject's first record lands.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("key_hash", LargeBinary(32), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("provider", String(64)),
    Column("subject_kind", String(16)),
    Column("subject_key", String(64)),
    Column("measures", Text),  # space-separated measure codes, for consumer keys
    Column("expires", Date),  # last day the key works
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)

#: Every read of a person's data through the API, and every refused attempt, written before
#: the answer leaves: a third hash chain (``audit_log`` in ``chain_heads``). Subjects appear
#: by their row id, never by their number.
audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("key_id", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("subject_id", Integer, ForeignKey("subjects.id")),
    Column("purpose", String(64)),
    Column("action", String(32), nullable=False),
    Column("result", String(32), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
)

#: Which subjects the audit entries read, the index a subject's access log is read through,
#: built in sorted **generations** by ``store.audit_index`` rather than on every insert. An
#: index on ``audit_log.subject_id`` had most of its pages dirtied by every batch check's
#: commit (10,000 random subjects), a cost that grew with the log: 29.5 µs an entry at 1.5M
#: entries against 8.1 without it (``bench/bench_audit.py``). A generation is the entries of
#: one span of the log sorted by subject, appended after the previous generation, so filling
#: it dirties only the pages at the end of this table. Derived data: ``scs verify`` checks it.
audit_subjects = Table(
    "audit_subjects",
    metadata,
    Column("gen", Integer, primary_key=True, autoincrement=False),
    Column("subject_id", Integer, primary_key=True, autoincrement=False),
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    sqlite_with_rowid=False,
)

#: The generations of ``audit_subjects``: entries ``first_seq`` to ``last_seq`` (the last
#: recorded at ``last_at``). One being built is not ``complete`` and nobody reads its rows.
audit_generations = Table(
    "audit_generations",
    metadata,
    Column("gen", Integer, primary_key=True, autoincrement=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_at", String(32), nullable=False),
    Column("complete", Boolean, nullable=False),
    # Superseded by a merged generation over its span: no longer read, its pairs purged.
    Column("retired", Boolean, nullable=False, server_default=false()),
)

#: Due process: a dispute, a human review, a credit-repair application or a deletion request,
#: as it stands now. Every change to a case is also an entry of the ``case_events`` chain, so
#: this table is a convenience for reading; the chain is what proves what happened when.
cases = Table(
    "cases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # dispute | review | repair | deletion
    Column("subject_id", Integer, ForeignKey("subjects.id"), nullable=False),
    Column("provider", String(64)),
    Column("ref", String(128)),
    Column("rulebook", String(64)),
    Column("list", String(64)),
    Column("status", String(16), nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("deadline", Date, nullable=False),  # the last day to answer
    Column("closed_at", String(32)),
    Column("detail", Text, nullable=False),  # canonical JSON: reason, evidence, commitment …
)
Index("ix_cases_subject", cases.c.subject_id)
Index("ix_cases_record", cases.c.provider, cases.c.ref)

#: Every step of every case, hash-chained (``cases`` in ``chain_heads``) like the audit log.
case_events = Table(
    "case_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("case_id", String(32), nullable=False),
    Column("step", String(32), nullable=False),
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("actor", String(128), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("entry_hash", LargeBinary(32), nullable=False),
)
Index("ix_case_events_case", case_events.c.case_id)

#: The notice outbox: one notice per adverse record and rulebook, written before any consumer
#: can see the restriction it causes, delivered later by a channel (file, webhook).
notices = Table(
    "notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_id", Integer, ForeignKey("subjects.id"), nullable=False),
    Column("key", String(300), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("body", Text, nullable=False),  # JSON: what, why, legal basis, how to dispute
    Column("delivered_at", String(32)),
    Column("channel", String(300)),
    UniqueConstraint("subject_id", "key", name="uq_notices_subject_key"),
)

#: Subjects owed a look at their notices: written in the transaction that lands an adverse
#: record, deleted in the transaction that writes the notices it calls for. A crash between
#: the two leaves the row, and the next notice writer picks it up (``outbox.drain``). ``seq``
#: is the ledger entry that last called for it: a writer that read the subject before a later
#: entry landed deletes nothing, so the later entry is looked at too.
notices_owed = Table(
    "notices_owed",
    metadata,
    Column("subject_id", Integer, ForeignKey("subjects.id"), primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
)

#: Ledger entries whose personal data was erased after the rulebook's retention period: the
#: content columns are blanked, the stored content hash stays, so the chain still verifies.
shredded = Table(
    "shredded",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("shredded_at", String(32), nullable=False),
    Column("reason", Text, nullable=False),
)

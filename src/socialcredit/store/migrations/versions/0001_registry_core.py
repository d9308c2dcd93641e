"""The registry core: subjects, record types, providers, legacy codes, ledger, operator log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Tables are spelled out here rather than taken from ``schema.metadata``: a migration must keep
creating the schema as it was at this revision, whatever later revisions change.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("display", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200)),
    )
    op.create_table(
        "record_types",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("polarity", sa.String(16), nullable=False),
        sa.Column("subject_kinds", sa.String(64), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
    )
    op.create_table(
        "providers",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("type_patterns", sa.Text, nullable=False),
    )
    op.create_table(
        "legacy_codes",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("ref", sa.String(128), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("type", sa.String(64)),
        sa.Column("occurred_on", sa.Date),
        sa.Column("reported_on", sa.Date),
        sa.Column("act", sa.String(128)),
        sa.Column("amount", sa.Float),
        sa.Column("quantity", sa.Float),
        sa.Column("relates_to", sa.String(128)),
        sa.Column("evidence", sa.Text),
        sa.Column("legal_basis", sa.Text),
        sa.Column("subject_name", sa.String(200)),
        sa.Column("amends", SEQ),
        sa.Column("reason", sa.Text),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
        sa.UniqueConstraint("provider", "ref", name="uq_ledger_provider_ref"),
    )
    op.create_index("ix_ledger_subject", "ledger", ["subject_id"])
    op.create_index(
        "ix_ledger_amends",
        "ledger",
        ["amends"],
        sqlite_where=sa.text("amends IS NOT NULL"),
        postgresql_where=sa.text("amends IS NOT NULL"),
    )
    op.create_table(
        "operator_log",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_table(
        "chain_heads",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "chain_heads",
        "operator_log",
        "ledger",
        "legacy_codes",
        "providers",
        "record_types",
        "subjects",
        "meta",
    ):
        op.drop_table(table)

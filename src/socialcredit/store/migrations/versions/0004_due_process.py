"""Due process: cases and their chained events, the notice outbox, shredded entries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23

Tables are spelled out here rather than taken from ``schema.metadata``: a migration must keep
creating the schema as it was at this revision. The ``cases`` chain's head row is created by
``Registry.init`` (and on first use in a registry upgraded from 0003).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("ref", sa.String(128)),
        sa.Column("rulebook", sa.String(64)),
        sa.Column("list", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.String(32), nullable=False),
        sa.Column("deadline", sa.Date, nullable=False),
        sa.Column("closed_at", sa.String(32)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_cases_subject", "cases", ["subject_id"])
    op.create_index("ix_cases_record", "cases", ["provider", "ref"])
    op.create_table(
        "case_events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sa.Column("case_id", sa.String(32), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_case_events_case", "case_events", ["case_id"])
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("delivered_at", sa.String(32)),
        sa.Column("channel", sa.String(300)),
        sa.UniqueConstraint("subject_id", "key", name="uq_notices_subject_key"),
    )
    op.create_table(
        "shredded",
        sa.Column("seq", _SEQ, primary_key=True),
        sa.Column("shredded_at", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shredded")
    op.drop_table("notices")
    op.drop_index("ix_case_events_case", "case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_record", "cases")
    op.drop_index("ix_cases_subject", "cases")
    op.drop_table("cases")

"""The audit log's subjects as a table merged in sorted runs, not an index on every insert.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

``ix_audit_log_subject`` dirtied most of its pages on every batch check's commit, a cost
that grew with the log (``bench/bench_audit.py``). Its pairs move to ``audit_subjects``,
which ``store.audit`` fills in sorted runs; ``audit_index`` says how far it goes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_subjects",
        sa.Column("subject_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_index",
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("upto", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO audit_subjects (subject_id, seq) SELECT subject_id, seq FROM audit_log "
        "WHERE subject_id IS NOT NULL ORDER BY subject_id, seq"
    )
    op.execute(
        "INSERT INTO audit_index (chain, upto) "
        "SELECT 'audit_log', coalesce(max(seq), 0) FROM audit_log"
    )
    op.drop_index("ix_audit_log_subject", "audit_log")


def downgrade() -> None:
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_id"])
    op.drop_table("audit_index")
    op.drop_table("audit_subjects")

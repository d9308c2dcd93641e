"""The audit log's subjects in sorted generations instead of an index filled on every insert.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24

``ix_audit_log_subject`` had most of its pages dirtied by every batch check's commit, a cost
that grew with the log (``bench/bench_audit.py``). Its pairs move to ``audit_subjects`` as
generation 1, which ``store.audit_index`` extends with later generations.
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
        sa.Column("gen", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("subject_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit_generations",
        sa.Column("gen", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("last_at", sa.String(32), nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
    )
    # The whole existing log is generation 1 (if it has entries), complete at once.
    op.execute(
        "INSERT INTO audit_subjects (gen, subject_id, seq) SELECT 1, subject_id, seq "
        "FROM audit_log WHERE subject_id IS NOT NULL ORDER BY subject_id, seq"
    )
    op.execute(
        "INSERT INTO audit_generations (gen, first_seq, last_seq, last_at, complete) "
        "SELECT 1, 1, seq, recorded_at, TRUE FROM audit_log "
        "WHERE seq = (SELECT max(seq) FROM audit_log)"
    )
    op.drop_index("ix_audit_log_subject", "audit_log")


def downgrade() -> None:
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_id"])
    op.drop_table("audit_generations")
    op.drop_table("audit_subjects")

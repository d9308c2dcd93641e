"""Generations of the audit log's subject index can be merged: a flag for the superseded ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

A server builds a generation every ``AT_LEAST`` entries, and a subject's access log seeks
each one within its window: left alone, thousands a year. ``store.audit_index`` now merges
runs of them into one over the same span; the generations it supersedes are ``retired``
(no longer read) until their pairs are purged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_generations") as batch:
        batch.add_column(
            sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    # Revision 0006 reads generations in the order of their numbers, which a merged one
    # (numbered after the ones it superseded, its span before theirs) breaks: the index is
    # rebuilt as 0006 builds it from an old log, one generation over every entry.
    op.execute("DELETE FROM audit_subjects")
    op.execute("DELETE FROM audit_generations")
    op.execute(
        "INSERT INTO audit_subjects (gen, subject_id, seq) SELECT 1, subject_id, seq "
        "FROM audit_log WHERE subject_id IS NOT NULL ORDER BY subject_id, seq"
    )
    op.execute(
        "INSERT INTO audit_generations (gen, first_seq, last_seq, last_at, complete, retired) "
        "SELECT 1, 1, seq, recorded_at, TRUE, FALSE FROM audit_log "
        "WHERE seq = (SELECT max(seq) FROM audit_log)"
    )
    with op.batch_alter_table("audit_generations") as batch:
        batch.drop_column("retired")

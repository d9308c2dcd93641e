"""API keys and the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

Tables are spelled out here rather than taken from ``schema.metadata``: a migration must keep
creating the schema as it was at this revision, whatever later revisions change. The audit
chain's head row is created by ``Registry.init``, as the other chains' are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(64)),
        sa.Column("subject_kind", sa.String(16)),
        sa.Column("subject_key", sa.String(64)),
        sa.Column("measures", sa.Text),
        sa.Column("expires", sa.Date),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id")),
        sa.Column("purpose", sa.String(64)),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
        sa.Column("recorded_at", sa.String(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_subject", "audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")

"""Notices owed: the subjects whose adverse records landed and whose notices are not yet written.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

Before this revision the API kept that list in memory, so a crash between a submission's
answer and its notices lost it until ``scs notices sweep``; now it lands with the records.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "notices_owed",
        sa.Column(
            "subject_id",
            sa.Integer,
            sa.ForeignKey("subjects.id"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("seq", _SEQ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notices_owed")

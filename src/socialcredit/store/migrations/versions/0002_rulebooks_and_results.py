"""Rulebook activations and the results snapshot.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23

Tables are spelled out here rather than taken from ``schema.metadata``: a migration must keep
creating the schema as it was at this revision, whatever later revisions change.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rulebooks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("toml", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("activated_at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
    )
    op.create_index("ix_rulebooks_name", "rulebooks", ["name"])
    op.create_table(
        "results",
        sa.Column("subject_id", sa.Integer, sa.ForeignKey("subjects.id"), nullable=False),
        sa.Column("rulebook", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("grade", sa.String(32), nullable=False),
        sa.Column("lists", sa.Text, nullable=False),
        sa.Column("computed_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("rulebook", "version", "as_of", "subject_id", name="pk_results"),
    )


def downgrade() -> None:
    op.drop_table("results")
    op.drop_index("ix_rulebooks_name", "rulebooks")
    op.drop_table("rulebooks")

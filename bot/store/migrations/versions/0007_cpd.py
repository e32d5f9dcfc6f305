"""cpd: CPD records drafted from reflections, and a reflection's tags

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reflections") as batch:
        batch.add_column(sa.Column("tags_enc", sa.LargeBinary(), nullable=True))
    op.create_table(
        "cpd_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=True),
        sa.Column("activity_date", sa.Date(), nullable=False),
        sa.Column("peer", sa.Boolean(), nullable=False),
        sa.Column("fields_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_cpd_records_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reflection_id"],
            ["reflections.id"],
            name=op.f("fk_cpd_records_reflection_id_reflections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cpd_records")),
    )
    op.create_index(op.f("ix_cpd_records_user_id"), "cpd_records", ["user_id", "activity_date"])


def downgrade() -> None:
    op.drop_index(op.f("ix_cpd_records_user_id"), table_name="cpd_records")
    op.drop_table("cpd_records")
    with op.batch_alter_table("reflections") as batch:
        batch.drop_column("tags_enc")

"""critical friends: teams and managers, the pool, requests and invitations, pairings,
rounds, shared reflections and feedback

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_users_manager_id_users"),
            "users",
            ["manager_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "friend_profiles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("in_pool", sa.Boolean(), nullable=False),
        sa.Column("rounds", sa.Boolean(), nullable=False),
        sa.Column("max_pairings", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("friend_profiles"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_friend_profiles")),
    )
    op.create_table(
        "friend_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("friend_requests"),
        sa.ForeignKeyConstraint(
            ["reflection_id"],
            ["reflections.id"],
            name=op.f("fk_friend_requests_reflection_id_reflections"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_requests")),
    )
    op.create_index(op.f("ix_friend_requests_user_id"), "friend_requests", ["user_id", "status"])
    op.create_table(
        "friend_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=24), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["friend_requests.id"],
            name=op.f("fk_friend_invitations_request_id_friend_requests"),
            ondelete="CASCADE",
        ),
        _user_fk("friend_invitations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_invitations")),
        sa.UniqueConstraint("token", name=op.f("uq_friend_invitations_token")),
        sa.UniqueConstraint("request_id", "user_id", name=op.f("uq_friend_invitations_request_id")),
    )
    op.create_index(
        op.f("ix_friend_invitations_status"), "friend_invitations", ["status", "expires_at"]
    )
    op.create_table(
        "pairings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_pairings_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairings")),
    )
    op.create_table(
        "pairing_members",
        sa.Column("pairing_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("talked", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pairing_id"],
            ["pairings.id"],
            name=op.f("fk_pairing_members_pairing_id_pairings"),
            ondelete="CASCADE",
        ),
        _user_fk("pairing_members"),
        sa.PrimaryKeyConstraint("pairing_id", "user_id", name=op.f("pk_pairing_members")),
    )
    op.create_index(op.f("ix_pairing_members_user_id"), "pairing_members", ["user_id"])
    op.create_table(
        "friend_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_friend_rounds_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_rounds")),
        sa.UniqueConstraint(
            "organisation_id", "period", name=op.f("uq_friend_rounds_organisation_id")
        ),
    )
    op.create_table(
        "shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=24), nullable=False),
        sa.Column("pairing_id", sa.Integer(), nullable=False),
        sa.Column("reflection_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("shared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pairing_id"],
            ["pairings.id"],
            name=op.f("fk_shares_pairing_id_pairings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reflection_id"],
            ["reflections.id"],
            name=op.f("fk_shares_reflection_id_reflections"),
            ondelete="CASCADE",
        ),
        _user_fk("shares"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shares")),
        sa.UniqueConstraint("token", name=op.f("uq_shares_token")),
    )
    op.create_index(op.f("ix_shares_pairing_id"), "shares", ["pairing_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=24), nullable=False),
        sa.Column("share_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("run_key", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_key", sa.String(length=36), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["share_id"],
            ["shares.id"],
            name=op.f("fk_feedback_share_id_shares"),
            ondelete="CASCADE",
        ),
        _user_fk("feedback"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback")),
        sa.UniqueConstraint("token", name=op.f("uq_feedback_token")),
        sa.UniqueConstraint("share_id", "user_id", name=op.f("uq_feedback_share_id")),
    )


def downgrade() -> None:
    for table in (
        "feedback",
        "shares",
        "friend_rounds",
        "pairing_members",
        "pairings",
        "friend_invitations",
        "friend_requests",
        "friend_profiles",
    ):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(batch.f("fk_users_manager_id_users"), type_="foreignkey")
        batch.drop_column("manager_id")
        batch.drop_column("team")

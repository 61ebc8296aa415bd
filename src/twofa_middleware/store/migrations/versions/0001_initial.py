"""The initial schema: users' 2FA state, recovery codes, access tokens, security log.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Frozen: it spells out the tables as they were, never imports the models.
Timestamps are naive UTC ``DateTime`` columns (``models.Timestamp`` in code).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twofa_users",
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("enabled_at", sa.DateTime(), nullable=True),
        sa.Column("pending_secret", sa.Text(), nullable=True),
        sa.Column("pending_since", sa.DateTime(), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "twofa_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["twofa_users.user_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_twofa_recovery_codes_user_id", "twofa_recovery_codes", ["user_id"])
    op.create_index("ix_twofa_recovery_codes_code_hash", "twofa_recovery_codes", ["code_hash"])
    op.create_table(
        "twofa_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("paths", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_twofa_tokens_user_id", "twofa_tokens", ["user_id"])
    op.create_table(
        "twofa_security_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=255), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_twofa_security_log_user_id", "twofa_security_log", ["user_id"])
    op.create_index("ix_twofa_security_log_created_at", "twofa_security_log", ["created_at"])


def downgrade() -> None:
    op.drop_table("twofa_security_log")
    op.drop_table("twofa_tokens")
    op.drop_table("twofa_recovery_codes")
    op.drop_table("twofa_users")

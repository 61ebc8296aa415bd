"""Authenticators as a list: each user's TOTP secret moves into ``twofa_authenticators``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

Every enabled user's secret becomes one ``totp`` authenticator named
"Authenticator app", created when 2FA was enabled; the last accepted step,
lockout, epoch and recovery codes stay on the user, as they belong to the user
across all factors. Two columns hold the one security-key ceremony under way
per user. Frozen: it spells out the tables, never imports the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "twofa_authenticators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("credential_id", sa.String(length=1400), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["twofa_users.user_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("credential_id"),
    )
    op.create_index("ix_twofa_authenticators_user_id", "twofa_authenticators", ["user_id"])
    op.execute(
        "INSERT INTO twofa_authenticators"
        " (user_id, kind, name, secret, sign_count, transports, created_at)"
        " SELECT user_id, 'totp', 'Authenticator app', secret, 0, '',"
        " COALESCE(enabled_at, CURRENT_TIMESTAMP)"
        " FROM twofa_users WHERE secret IS NOT NULL"
    )
    # A plain DROP COLUMN (SQLite 3.35+), never batch mode: rebuilding twofa_users
    # would drop the old table, and its ON DELETE CASCADE would empty the others.
    op.drop_column("twofa_users", "secret")
    # The one security-key ceremony under way per user: single use across instances.
    op.add_column("twofa_users", sa.Column("challenge", sa.Text(), nullable=True))
    op.add_column("twofa_users", sa.Column("challenge_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    """Back to one secret per user: the oldest authenticator app stays, any other factor is lost."""
    op.drop_column("twofa_users", "challenge_until")
    op.drop_column("twofa_users", "challenge")
    op.add_column("twofa_users", sa.Column("secret", sa.Text(), nullable=True))
    op.execute(
        "UPDATE twofa_users SET secret = (SELECT a.secret FROM twofa_authenticators a"
        " WHERE a.user_id = twofa_users.user_id AND a.kind = 'totp' ORDER BY a.id LIMIT 1)"
    )
    op.drop_table("twofa_authenticators")

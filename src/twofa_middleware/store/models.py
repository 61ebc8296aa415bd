"""The tables. Times are stored as naive UTC and handled in code as epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class Timestamp(TypeDecorator[float]):
    """Epoch seconds in Python, a UTC ``timestamp`` column in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: float | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> float | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC).timestamp()


class Base(DeclarativeBase):
    pass


class TwoFactorUser(Base):
    """One row per user who has ever started enrolling.

    2FA is on while the user has an authenticator. What belongs to the user
    across all of them lives here: the last accepted time step (replay
    protection), the failure count and lockout, and ``epoch``, which grows at
    every enable and disable: verified cookies carry it, so they all stop
    working when 2FA is turned off or set up anew.
    """

    __tablename__ = "twofa_users"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    enabled_at: Mapped[float | None] = mapped_column(Timestamp)
    pending_secret: Mapped[str | None] = mapped_column(Text)  # encrypted
    pending_since: Mapped[float | None] = mapped_column(Timestamp)
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[float | None] = mapped_column(Timestamp)
    epoch: Mapped[int] = mapped_column(Integer, default=0)
    # The one security-key ceremony under way (opaque state, single use, short lived).
    challenge: Mapped[str | None] = mapped_column(Text)
    challenge_until: Mapped[float | None] = mapped_column(Timestamp)


class Authenticator(Base):
    """One second factor of a user: an authenticator app (``totp``) or a security key (``webauthn``)."""

    __tablename__ = "twofa_authenticators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("twofa_users.user_id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    secret: Mapped[str | None] = mapped_column(Text)  # totp: the encrypted secret
    credential_id: Mapped[str | None] = mapped_column(String(1400), unique=True)  # webauthn: base64url
    public_key: Mapped[str | None] = mapped_column(Text)  # webauthn: base64url COSE key, not secret
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[str] = mapped_column(String(255), default="")  # webauthn: comma-separated
    created_at: Mapped[float] = mapped_column(Timestamp)
    last_used_at: Mapped[float | None] = mapped_column(Timestamp)


class RecoveryCode(Base):
    __tablename__ = "twofa_recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(255), ForeignKey("twofa_users.user_id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(Text)  # encrypted, so the user can view it again
    created_at: Mapped[float] = mapped_column(Timestamp)
    used_at: Mapped[float | None] = mapped_column(Timestamp)


class AccessToken(Base):
    __tablename__ = "twofa_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    paths: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of path prefixes
    created_at: Mapped[float] = mapped_column(Timestamp)
    expires_at: Mapped[float | None] = mapped_column(Timestamp)
    last_used_at: Mapped[float | None] = mapped_column(Timestamp)
    revoked_at: Mapped[float | None] = mapped_column(Timestamp)


class SecurityEvent(Base):
    __tablename__ = "twofa_security_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    event: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(255), default="")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Timestamp, index=True)


class TrustedBrowser(Base):
    """A browser whose user ticked "Remember this browser": only a hash of its cookie's secret."""

    __tablename__ = "twofa_trusted_browsers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="")
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Timestamp)
    last_used_at: Mapped[float | None] = mapped_column(Timestamp)
    expires_at: Mapped[float] = mapped_column(Timestamp)
    epoch: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[float | None] = mapped_column(Timestamp)

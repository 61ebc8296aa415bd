"""The SQLAlchemy store: SQLite by default, PostgreSQL for several instances.

Race freedom: every verification holds the user's row under ``SELECT ... FOR
UPDATE`` (PostgreSQL) or a write transaction taken up front (``BEGIN
IMMEDIATE`` on SQLite), and recovery codes are spent by a conditional UPDATE,
so two concurrent requests can never both spend one code or one time step.

Tokens and turning 2FA on: the first factor revokes every live token of the user in
its transaction, and a token is inserted under the same row lock, checked against
the 2FA epoch its caller saw: a token made with the password alone cannot commit
after the transaction that turned 2FA on and survive it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import bindparam, create_engine, delete, event, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import ClauseElement

from .. import invalidation
from ..errors import (
    AlreadyEnabled,
    CodeReused,
    InvalidCode,
    InvalidRequest,
    InvalidSecurityKey,
    LastAuthenticator,
    NotEnabled,
    SetupExpired,
    StoreUnavailable,
    Throttled,
    TooManyAuthenticators,
    TwoFactorChanged,
)
from ..i18n import N_
from . import direct
from .base import (
    DEFAULT_NAMES,
    DISABLED,
    AddedFactor,
    AttemptLog,
    AttemptResult,
    AuthenticatorRecord,
    Check,
    EventRecord,
    LockedFactor,
    NewAuthenticator,
    ResetCounts,
    TokenRecord,
    TrustedBrowserRecord,
    UserState,
)
from .models import AccessToken, Authenticator, RecoveryCode, SecurityEvent, TrustedBrowser, TwoFactorUser


def _busy_retry(statement: Callable[[], object], tries: int = 100) -> None:
    """Switching a new file to WAL needs it to itself, and SQLite may answer
    "database is locked" at once rather than wait: several instances opening a
    fresh database together retry for a few seconds instead of failing."""
    for attempt in range(tries):
        try:
            statement()
            return
        except sqlite3.OperationalError:
            if attempt == tries - 1:
                raise
            time.sleep(0.05)


# ``PRAGMA synchronous`` levels a file database may use in WAL mode. OFF is not one:
# with it a power loss may corrupt the file, not only lose the last transactions.
SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


_READ_ONLY = "twofa_read_only"  # an execution option: the transaction only reads


def _sqlite_engine(url: str, engine_kwargs: dict[str, Any], synchronous: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": 30},
        "hide_parameters": True,
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    kwargs.update(engine_kwargs)
    engine = create_engine(url, **kwargs)

    # pysqlite's own transaction handling begins lazily and deferred; take the
    # write lock at BEGIN instead, so concurrent verifications serialise. A read
    # alone (the store's ``_tx(read=True)``) begins deferred: in WAL mode it then
    # waits for no writer, and reads one snapshot.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if not memory:
            _busy_retry(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
            cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of SQLITE_SYNCHRONOUS, checked
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


# The verification's statements, built once: each attempt only binds values
# (building a statement per call costs more than SQLite takes to run it).
_LOCK_USER = (
    select(
        TwoFactorUser.last_step,
        TwoFactorUser.failures,
        TwoFactorUser.locked_until,
        TwoFactorUser.challenge,
        TwoFactorUser.challenge_until,
        TwoFactorUser.pending_secret,
        TwoFactorUser.pending_since,
    )
    .where(TwoFactorUser.user_id == bindparam("user_id"))
    .with_for_update()
)
_FACTORS = (
    select(
        Authenticator.id,
        Authenticator.kind,
        Authenticator.secret,
        Authenticator.credential_id,
        Authenticator.public_key,
        Authenticator.sign_count,
    )
    .where(Authenticator.user_id == bindparam("user_id"))
    .order_by(Authenticator.id)
)
# SQLite: the write lock is held from BEGIN IMMEDIATE on, so the user row and its factors
# come in one read (PostgreSQL reads the factors after FOR UPDATE has the lock: a
# joined read would see them as they were before it waited).
_LOCK_USER_AND_FACTORS = (
    select(*_LOCK_USER.selected_columns, *_FACTORS.selected_columns)
    .select_from(TwoFactorUser)
    .outerjoin(Authenticator, Authenticator.user_id == TwoFactorUser.user_id)
    .where(TwoFactorUser.user_id == bindparam("user_id"))
    .order_by(Authenticator.id)
)


@lru_cache(maxsize=8)
def _spend_recovery_code(hashes: int) -> ClauseElement:
    """Spend one of the user's unused codes whose hash is one of ``hashes`` values
    (``hash0``...: one per key of the ring), built once per count of keys."""
    return (
        update(RecoveryCode)
        .where(
            RecoveryCode.id
            == select(RecoveryCode.id)
            .where(
                RecoveryCode.user_id == bindparam("owner"),
                RecoveryCode.code_hash.in_([bindparam(f"hash{i}") for i in range(hashes)]),
                RecoveryCode.used_at.is_(None),
            )
            .limit(1)
            .scalar_subquery(),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=bindparam("now"))
    )


@lru_cache(maxsize=64)
def _writes(
    user_columns: tuple[str, ...], factor: bool, sign_count: bool, log_rows: int, together: bool
) -> tuple[ClauseElement, ...]:
    """The attempt's writes, built once per shape: the user row's ``user_columns``, the
    factor that passed (its last use, and a security key's counter), ``log_rows`` rows
    of the security log. ``together`` (PostgreSQL): one statement, the updates as
    data-modifying CTEs, so the writes cost one round trip. Binds: ``owner``, ``now``,
    ``ip``, ``user_<column>``, ``factor_id``, ``count``, ``event<i>``, ``detail<i>``."""
    statements: list[Any] = [
        update(TwoFactorUser)
        .where(TwoFactorUser.user_id == bindparam("owner"))
        .values({column: bindparam(f"user_{column}") for column in user_columns})
    ]
    if factor:
        statements.append(
            update(Authenticator)
            .where(Authenticator.id == bindparam("factor_id"), Authenticator.user_id == bindparam("owner"))
            .values(last_used_at=bindparam("now"), **({"sign_count": bindparam("count")} if sign_count else {}))
        )
    rows: list[dict[str, Any]] = [
        {"user_id": bindparam("owner"), "event": bindparam(f"event{i}"), "detail": bindparam(f"detail{i}"),
         "remote_addr": bindparam("ip"), "created_at": bindparam("now")}
        for i in range(log_rows)
    ]
    if rows:  # one row as plain VALUES: SQLAlchemy caches its compiled form (a multi-row one it cannot)
        statements.append(insert(SecurityEvent).values(rows[0] if len(rows) == 1 else rows))
    if not together or len(statements) == 1:
        return tuple(statements)
    *first, last = statements
    for i, statement in enumerate(first):
        last = last.add_cte(statement.cte(f"write{i}"))
    return (last,)


class _LockedRow:
    """The user row under lock, as :class:`LockedUser` describes: plain values read by
    one SELECT. What the check changes is noted here and written with the
    attempt's other writes (:func:`_writes`), except a spent recovery code, whose
    conditional UPDATE must answer at once."""

    def __init__(self, tx: direct.Transaction, user_id: str, row: Any, factors: tuple[LockedFactor, ...]) -> None:
        self._tx = tx
        self.user_id = user_id
        self.last_step: int = row.last_step
        self.failures: int = row.failures
        self.locked_until: float | None = row.locked_until
        self._challenge: tuple[str | None, float | None] = (row.challenge, row.challenge_until)
        self.challenge_taken = False
        self.factors = factors
        self.passed: tuple[int, int | None] | None = None  # (factor id, new signature counter)

    def used(self, factor_id: int, now: float, sign_count: int | None = None) -> None:
        """Written with the attempt's other writes, at its end (``now`` is the attempt's)."""
        self.passed = (factor_id, sign_count)

    def take_challenge(self, now: float) -> str | None:
        """Cleared by the attempt's one UPDATE of the user row, whatever the check decides."""
        value, until = self._challenge
        self._challenge = (None, None)
        self.challenge_taken = True
        return value if value is not None and until is not None and until > now else None

    def consume_recovery_code(self, code_hashes: list[str], now: float) -> bool:
        """One conditional UPDATE: of two concurrent uses of one code, one wins."""
        values: dict[str, Any] = {"owner": self.user_id, "now": now}
        values.update({f"hash{i}": h for i, h in enumerate(code_hashes)})
        return self._tx.execute(_spend_recovery_code(len(code_hashes)), values) == 1


def _address(ip: str | None) -> str | None:
    """The client's address as its column keeps it (64 characters): a WSGI server's
    REMOTE_ADDR may be no IP at all (a Unix socket's path), and PostgreSQL would refuse
    the whole transaction for it, a right code with it."""
    return None if ip is None else ip[:64]


def _new_epoch(row: TwoFactorUser, enabled_at: float | None) -> None:
    """2FA turned on or off: no setup pending, no lock, and a new epoch, so every
    verified cookie of before stops working."""
    row.enabled_at = enabled_at
    row.pending_secret = None
    row.pending_since = None
    row.failures = 0
    row.locked_until = None
    row.epoch = (row.epoch or 0) + 1


def _take_challenge(row: TwoFactorUser, now: float) -> str | None:
    """The ceremony's state, cleared on the locked row: single use, whatever comes next."""
    value, until = row.challenge, row.challenge_until
    row.challenge = None
    row.challenge_until = None
    return value if value is not None and until is not None and until > now else None


def _outcome(result: AttemptResult, refused: InvalidCode | CodeReused | InvalidSecurityKey | None) -> AttemptResult:
    """Raise a refused code, after its transaction counted the failure, with what it did."""
    if refused is not None:
        raise refused
    return result


def _token_record(row: AccessToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        paths=tuple(json.loads(row.paths or "[]")),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _browser_record(row: TrustedBrowser) -> TrustedBrowserRecord:
    return TrustedBrowserRecord(
        id=row.id,
        user_id=row.user_id,
        secret_hash=row.secret_hash,
        label=row.label,
        ip=row.remote_addr,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=row.expires_at,
        epoch=row.epoch,
        revoked_at=row.revoked_at,
    )


class SQLAlchemyStore:
    """The store behind the middleware.

    :param url: a SQLAlchemy URL: ``sqlite:///twofa.db`` or
        ``postgresql+psycopg://user@host/db``.
    :param create_schema: on first use, create the schema or upgrade it to
        the newest migration, as ``twofa db upgrade`` does (safe when several
        instances start at once). Pass False when deployments run
        ``twofa db upgrade`` themselves.
    :param sqlite_synchronous: for a SQLite file (always in WAL mode), how far a commit
        is on disk before it returns: ``"FULL"`` (the default: every commit survives a
        power loss), ``"NORMAL"`` (faster: an application crash loses nothing, but a
        power loss or an OS crash may roll back the transactions committed since
        the last checkpoint, such as a revoked token or a spent code). README "Performance".
    :param engine_kwargs: passed to :func:`sqlalchemy.create_engine`.
    """

    def __init__(
        self,
        url: str = "sqlite:///twofa.db",
        *,
        create_schema: bool = True,
        sqlite_synchronous: str = "FULL",
        **engine_kwargs: Any,
    ) -> None:
        self.url = url
        if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url, engine_kwargs, sqlite_synchronous)
        else:
            kwargs: dict[str, Any] = {
                "pool_pre_ping": True,
                "pool_size": 5,
                "max_overflow": 5,
                "pool_timeout": 10,
                # Bound values are secrets (encrypted or hashed): keep them out of error logs.
                "hide_parameters": True,
            }
            if url.startswith("postgresql") and "connect_timeout" not in url:
                # An unreachable server must fail requests (closed) soon, not hang them.
                kwargs["connect_args"] = {"connect_timeout": 5}
            kwargs.update(engine_kwargs)
            self.engine = create_engine(url, **kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False)
        self._schema_ready = not create_schema
        self._schema_lock = threading.Lock()
        self._change_feed = invalidation.for_engine(self.engine)

    def __repr__(self) -> str:
        return f"SQLAlchemyStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def create_schema(self) -> None:
        """Create the schema, or upgrade it to the newest migration."""
        self.upgrade_schema("head")

    def upgrade_schema(self, revision: str = "head") -> None:
        """Run the shipped Alembic migrations up to ``revision``."""
        from . import migrate  # Alembic is only needed when the schema changes

        try:
            migrate.upgrade(self.engine, revision)
        except SQLAlchemyError as exc:
            raise StoreUnavailable() from exc
        self._schema_ready = True

    @contextmanager
    def _tx(self, *, read: bool = False) -> Iterator[Session]:
        """One transaction; any database failure becomes StoreUnavailable (fail closed).
        ``read``: it only reads, so on SQLite it takes no write lock."""
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self.create_schema()
        try:
            with (self._read_sessions if read else self._sessions)() as session, session.begin():
                yield session
        except DataError as exc:
            # A value the database refuses (too long, out of range): the request's
            # fault, not an outage. Input checks should catch these first.
            raise InvalidRequest(N_("A value in the request is too long or out of range.")) from exc
        except (DBAPIError, SQLAlchemyError) as exc:
            raise StoreUnavailable() from exc

    def _core_tx(self) -> direct.Transaction:
        """As :meth:`_tx`, for Core statements run on the pooled connection's own
        cursor (:mod:`.direct`): no ORM session, no SQLAlchemy execution on the
        verification's hot path. Failures map as in :meth:`_tx`."""
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    self.create_schema()
        return direct.Transaction(self.engine, self._failure)

    def _failure(self, exc: BaseException) -> BaseException | None:
        """What a failure of a :meth:`_core_tx` becomes: as :meth:`_tx` maps them."""
        dbapi = self.engine.dialect.loaded_dbapi
        if isinstance(exc, DataError | dbapi.DataError):
            return InvalidRequest(N_("A value in the request is too long or out of range."))
        if isinstance(exc, SQLAlchemyError | dbapi.Error):
            return StoreUnavailable()
        return None

    def _row(self, session: Session, user_id: str, *, lock: bool = False) -> TwoFactorUser:
        """The user's row, inserted first when missing.

        Two first requests of one user may race to insert it: the loser's
        insert is a no-op (ON CONFLICT DO NOTHING) and it then reads and locks
        the winner's row, instead of failing on the primary key.
        """
        row = session.get(TwoFactorUser, user_id, with_for_update=lock)
        if row is not None:
            return row
        values = {"user_id": user_id, "last_step": 0, "failures": 0, "epoch": 0}
        dialect = session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
            session.execute(dialect_insert(TwoFactorUser).values(values).on_conflict_do_nothing())
        else:
            session.execute(insert(TwoFactorUser).values(values))
        row = session.get(TwoFactorUser, user_id, with_for_update=lock)
        assert row is not None  # noqa: S101 - for the type checker: inserted just above if missing
        return row

    # -- state ---------------------------------------------------------------

    def user_state(self, user_id: str) -> UserState:
        with self._tx(read=True) as s:
            row = s.get(TwoFactorUser, user_id)
            if row is None:
                return DISABLED
            kinds = frozenset(s.scalars(select(Authenticator.kind).where(Authenticator.user_id == user_id)))
            if not kinds:
                return UserState(enabled=False, epoch=row.epoch)
            left = s.scalar(
                select(func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
            )
            return UserState(
                enabled=True, epoch=row.epoch, recovery_codes_left=left or 0, locked_until=row.locked_until,
                kinds=kinds,
            )

    def failures(self, user_id: str) -> int:
        """Wrong codes since the user's last right one, which the lockout counts (0 for an
        unknown user). Read only: for operators (``twofa status``) and tests."""
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id)
            return row.failures if row is not None else 0

    # -- enrollment ----------------------------------------------------------

    def pending_secret(self, user_id: str, not_before: float) -> str | None:
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id)
            if row is None or row.pending_secret is None or (row.pending_since or 0) < not_before:
                return None
            return row.pending_secret

    def set_pending_secret(self, user_id: str, secret: str, now: float) -> None:
        with self._tx() as s:
            row = self._row(s, user_id, lock=True)
            row.pending_secret = secret
            row.pending_since = now

    def enable(self, user_id: str, secret: str, step: int, codes: list[tuple[str, str]], now: float) -> None:
        """Turn 2FA on with one authenticator app; AlreadyEnabled when it is on."""
        self.add_authenticator(
            user_id, NewAuthenticator("totp", DEFAULT_NAMES["totp"], secret=secret), step, codes, now, only_first=True
        )

    def add_authenticator(
        self,
        user_id: str,
        new: NewAuthenticator,
        step: int,
        codes: list[tuple[str, str]],
        now: float,
        *,
        only_first: bool = False,
        pending: str | None = None,
        limit: int | None = None,
        remote_addr: str | None = None,
        epoch: int | None = None,
    ) -> AddedFactor:
        """Store a factor; its id, whether it is the first, and the tokens that revoked.

        Decided under the user's row lock: the first factor turns 2FA on (a new
        epoch, ``codes`` become the recovery codes, and every live token of the user
        is revoked, with a ``tokens_revoked`` row in the security log); a later one
        joins the list and ``codes`` are not used. The setup's pending secret is spent either way;
        ``pending`` (a setup's confirmation: its pending secret as stored) must still be
        it, so one setup code confirmed twice at once stores one factor (SetupExpired).
        ``limit``: the user's factors may not exceed it (TooManyAuthenticators, nothing stored).
        ``epoch``: the user's 2FA epoch the request was allowed under, as for :meth:`add_token`:
        another now (2FA turned on or off elsewhere since) raises TwoFactorChanged, so a
        stale "2FA off" never lets the password alone add one more factor.
        """
        with self._tx() as s:
            row = self._row(s, user_id, lock=True)
            if epoch is not None and (row.epoch or 0) != epoch:
                raise TwoFactorChanged()
            if pending is not None and row.pending_secret != pending:
                raise SetupExpired()
            count = self._count_authenticators(s, user_id)
            first = count == 0
            if only_first and not first:
                raise AlreadyEnabled()
            if limit is not None and count >= limit:
                raise TooManyAuthenticators(limit)
            if first:
                _new_epoch(row, now)
            else:
                row.pending_secret = None
                row.pending_since = None
            row.last_step = max(row.last_step, step)
            factor = Authenticator(
                user_id=user_id,
                kind=new.kind,
                name=new.name,
                secret=new.secret,
                credential_id=new.credential_id,
                public_key=new.public_key,
                sign_count=new.sign_count,
                transports=",".join(new.transports),
                created_at=now,
            )
            s.add(factor)
            s.flush()
            revoked = 0
            if first:
                self._write_codes(s, user_id, codes, now)
                revoked = self._revoke_tokens(s, user_id, now, expired_too=False)
                if revoked:
                    s.add(SecurityEvent(user_id=user_id, event="tokens_revoked", detail=f"{revoked}: 2FA turned on",
                                        remote_addr=_address(remote_addr), created_at=now))
            return AddedFactor(factor.id, first, revoked)

    @staticmethod
    def _revoke_tokens(s: Session, user_id: str, now: float, *, expired_too: bool) -> int:
        """Revoke the user's tokens not revoked yet (``expired_too`` False: only the live
        ones, those not expired either); how many."""
        query = update(AccessToken).where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
        if not expired_too:
            query = query.where(AccessToken.expires_at.is_(None) | (AccessToken.expires_at > now))
        return cast("CursorResult[Any]", s.execute(query.values(revoked_at=now))).rowcount

    @staticmethod
    def _count_authenticators(s: Session, user_id: str) -> int:
        return s.scalar(select(func.count()).select_from(Authenticator).where(Authenticator.user_id == user_id)) or 0

    def authenticators(self, user_id: str) -> list[AuthenticatorRecord]:
        with self._tx() as s:
            rows = s.scalars(select(Authenticator).where(Authenticator.user_id == user_id).order_by(Authenticator.id))
            return [_authenticator_record(r) for r in rows]

    def totp_secrets(self, user_id: str) -> list[str]:
        """The user's authenticator apps' secrets, encrypted: to know an import already made."""
        with self._tx() as s:
            return [
                secret
                for secret in s.scalars(
                    select(Authenticator.secret).where(Authenticator.user_id == user_id, Authenticator.kind == "totp")
                )
                if secret is not None
            ]

    def rename_authenticator(self, user_id: str, authenticator_id: int, name: str) -> bool:
        with self._tx() as s:
            result = s.execute(
                update(Authenticator)
                .where(Authenticator.id == authenticator_id, Authenticator.user_id == user_id)
                .values(name=name)
            )
            return cast("CursorResult[Any]", result).rowcount == 1

    def remove_authenticator(self, user_id: str, authenticator_id: int) -> bool:
        """Remove one factor; False when the user has none with that id.

        Never the last one: that is turning 2FA off, which is :meth:`disable`
        (it also ends the recovery codes). Counted under the row lock, so two
        concurrent removals cannot together remove the last two. A new epoch: a
        sign-in verified with the removed factor (a lost or stolen phone) ends.
        """
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id, with_for_update=True)
            if row is None:
                return False
            exists = s.scalar(
                select(Authenticator.id).where(Authenticator.id == authenticator_id, Authenticator.user_id == user_id)
            )
            if exists is None:
                return False
            if self._count_authenticators(s, user_id) <= 1:
                raise LastAuthenticator()
            s.execute(delete(Authenticator).where(Authenticator.id == authenticator_id))
            row.epoch = (row.epoch or 0) + 1
            return True

    def raise_last_step(self, user_id: str, step: int) -> None:
        """Make ``step`` at least the user's last accepted time step (an import's ``last_t``),
        never lower it; nothing for a user without a row."""
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id, with_for_update=True)
            if row is not None and row.last_step < step:
                row.last_step = step

    def disable(self, user_id: str, now: float) -> bool:
        """Turn 2FA off and forget every factor and code; False when it was off."""
        with self._tx() as s:
            return self._turn_off(s, user_id)

    def _turn_off(self, s: Session, user_id: str) -> bool:
        row = s.get(TwoFactorUser, user_id, with_for_update=True)
        if row is None or self._count_authenticators(s, user_id) == 0:
            return False
        _new_epoch(row, None)
        s.execute(delete(Authenticator).where(Authenticator.user_id == user_id))
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        return True

    # -- verification --------------------------------------------------------

    def attempt(
        self,
        user_id: str,
        now: float,
        check: Check,
        lock_seconds: Callable[[int], int],
        log: AttemptLog | None = None,
        remote_addr: str | None = None,
    ) -> AttemptResult:
        """Run ``check`` on the user's factors under the row lock; count a failure or reset the count.

        ``check`` returns the accepted time step, or raises InvalidCode/CodeReused/InvalidSecurityKey,
        which is raised again, once the failure is counted, with ``attempt`` set. The
        security-log rows ``log`` names for the outcome are written in the same
        transaction: one transaction, one commit, for the whole verification.
        """
        with self._core_tx() as tx:
            row, factors = self._locked_user(tx, user_id)
            if row is None or not factors:
                raise NotEnabled()
            result, refused = self._judge(
                tx, _LockedRow(tx, user_id, row, factors), now, check, lock_seconds, log, remote_addr
            )
        return _outcome(result, refused)

    @staticmethod
    def _locked_user(tx: direct.Transaction, user_id: str) -> tuple[Any, tuple[LockedFactor, ...]]:
        """The user row under the lock and the user's factors (none for an unknown user)."""
        if tx.dialect.name == "sqlite":
            rows = tx.rows(_LOCK_USER_AND_FACTORS, {"user_id": user_id})
            width = len(_FACTORS.selected_columns)
            factors = tuple(LockedFactor(*r[-width:]) for r in rows if r.id is not None)
            return (rows[0] if rows else None), factors
        found = tx.rows(_LOCK_USER, {"user_id": user_id})
        if not found:
            return None, ()
        # Read once the lock is held, so a factor removed meanwhile is gone.
        return found[0], tuple(LockedFactor(*f) for f in tx.rows(_FACTORS, {"user_id": user_id}))

    def attempt_enrollment(
        self, user_id: str, now: float, check: Check, lock_seconds: Callable[[int], int], started_after: float
    ) -> AttemptResult:
        """As :meth:`attempt`, on the pending secret of a setup started after ``started_after``
        (a first factor, or one more): confirming a setup is throttled exactly like signing in."""
        with self._core_tx() as tx:
            found = tx.rows(_LOCK_USER, {"user_id": user_id})
            row = found[0] if found else None
            if row is None or row.pending_secret is None or (row.pending_since or 0) < started_after:
                raise SetupExpired()
            pending = LockedFactor(0, "totp", row.pending_secret, None, None, 0)
            result, refused = self._judge(tx, _LockedRow(tx, user_id, row, (pending,)), now, check, lock_seconds)
        return _outcome(result, refused)

    @staticmethod
    def _judge(
        tx: direct.Transaction,
        locked: _LockedRow,
        now: float,
        check: Check,
        lock_seconds: Callable[[int], int],
        log: AttemptLog | None = None,
        remote_addr: str | None = None,
    ) -> tuple[AttemptResult, InvalidCode | CodeReused | InvalidSecurityKey | None]:
        """The locked row's lockout, the check, and the writes of its outcome (:func:`_writes`):
        the user row, the factor that passed, the log rows. A refusal is returned,
        not raised, so that the transaction commits its count."""
        if locked.locked_until is not None and locked.locked_until > now:
            raise Throttled(int(locked.locked_until - now + 0.999))
        values: dict[str, Any]
        refused: InvalidCode | CodeReused | InvalidSecurityKey | None = None
        try:
            step = check(locked)
        except (InvalidCode, CodeReused, InvalidSecurityKey) as exc:
            refused = exc
            failures = locked.failures + 1
            seconds = lock_seconds(failures)
            result = AttemptResult(failures=failures, locked_until=now + seconds if seconds else None)
            values = {"failures": result.failures, "locked_until": result.locked_until}
        else:
            result = AttemptResult(failures=0, locked_until=None)
            values = {"last_step": max(locked.last_step, step), "failures": 0, "locked_until": None}
        if locked.challenge_taken:
            values.update(challenge=None, challenge_until=None)
        if refused is not None:
            refused.attempt = result
        events = [] if log is None else log(refused)
        # A refused check may still have named a factor: its use is not stamped.
        passed = locked.passed if refused is None else None
        params: dict[str, Any] = {"owner": locked.user_id, "now": now, "ip": _address(remote_addr)}
        params.update({f"user_{column}": value for column, value in values.items()})
        if passed is not None:
            params.update(factor_id=passed[0], count=passed[1])
        for i, (name, detail) in enumerate(events):
            params.update({f"event{i}": name, f"detail{i}": detail[:255]})
        shape = (tuple(values), passed is not None, passed is not None and passed[1] is not None, len(events),
                 tx.dialect.name == "postgresql")
        for statement in _writes(*shape):
            tx.execute(statement, params)
        return result, refused

    # -- recovery codes ------------------------------------------------------

    @staticmethod
    def _write_codes(s: Session, user_id: str, codes: list[tuple[str, str]], now: float) -> None:
        s.add_all(
            RecoveryCode(user_id=user_id, code_hash=h, code=enc, created_at=now) for h, enc in codes
        )

    def recovery_codes(self, user_id: str) -> list[tuple[str, bool]]:
        with self._tx() as s:
            rows = s.execute(
                select(RecoveryCode.code, RecoveryCode.used_at)
                .where(RecoveryCode.user_id == user_id)
                .order_by(RecoveryCode.id)
            ).all()
            return [(code, used_at is not None) for code, used_at in rows]

    def replace_recovery_codes(self, user_id: str, codes: list[tuple[str, str]], now: float) -> None:
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id, with_for_update=True)
            if row is None or self._count_authenticators(s, user_id) == 0:
                raise NotEnabled()
            s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
            self._write_codes(s, user_id, codes, now)

    # -- security log --------------------------------------------------------

    def log(self, user_id: str, event: str, detail: str, remote_addr: str | None, now: float) -> None:
        with self._tx() as s:
            s.add(
                SecurityEvent(
                    user_id=user_id, event=event, detail=detail[:255], remote_addr=_address(remote_addr), created_at=now
                )
            )

    def reserve_event(
        self, user_id: str, event: str, remote_addr: str | None, now: float, since: float, limit: int
    ) -> int | None:
        """Log ``event`` now unless ``limit`` of them happened after ``since``; its id, or None.

        Counted and written under the user's row lock: of N concurrent tries,
        at most ``limit`` get a reservation (reserve, then check, never the
        other way round).
        """
        with self._tx() as s:
            self._row(s, user_id, lock=True)
            count = s.scalar(
                select(func.count())
                .select_from(SecurityEvent)
                .where(
                    SecurityEvent.user_id == user_id,
                    SecurityEvent.event == event,
                    SecurityEvent.created_at > since,
                )
            )
            if (count or 0) >= limit:
                return None
            row = SecurityEvent(
                user_id=user_id, event=event, detail="", remote_addr=_address(remote_addr), created_at=now
            )
            s.add(row)
            s.flush()
            return row.id

    # -- security-key ceremonies ----------------------------------------------

    def begin_challenge(self, user_id: str, value: str, until: float) -> None:
        """Keep one ceremony's state (replacing any earlier one) until ``until``."""
        with self._tx() as s:
            row = self._row(s, user_id, lock=True)
            row.challenge = value
            row.challenge_until = until

    def take_challenge(self, user_id: str, now: float) -> str | None:
        """Take and clear the ceremony's state under the row lock: two finishes get it once."""
        with self._tx() as s:
            row = s.get(TwoFactorUser, user_id, with_for_update=True)
            return None if row is None else _take_challenge(row, now)

    def credential_registered(self, credential_id: str) -> bool:
        """A security key with this credential id is on some account (one key, one account)."""
        with self._tx() as s:
            found = s.scalar(select(Authenticator.id).where(Authenticator.credential_id == credential_id))
            return found is not None

    def forget_event(self, event_id: int) -> None:
        """Take back a reservation that turned out not to be the event."""
        with self._tx() as s:
            s.execute(delete(SecurityEvent).where(SecurityEvent.id == event_id))

    def event_times(self, user_id: str, event: str, since: float) -> list[float]:
        """When ``event`` happened to the user after ``since``, newest first."""
        with self._tx() as s:
            return list(
                s.scalars(
                    select(SecurityEvent.created_at)
                    .where(
                        SecurityEvent.user_id == user_id,
                        SecurityEvent.event == event,
                        SecurityEvent.created_at > since,
                    )
                    .order_by(SecurityEvent.created_at.desc())
                    .limit(100)
                )
            )

    def events(self, user_id: str | None = None, limit: int = 100) -> list[EventRecord]:
        with self._tx() as s:
            query = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(limit)
            if user_id is not None:
                query = query.where(SecurityEvent.user_id == user_id)
            return [
                EventRecord(e.user_id, e.event, e.detail, e.remote_addr, e.created_at)
                for e in s.scalars(query)
            ]

    # -- personal access tokens ----------------------------------------------

    def add_token(
        self,
        user_id: str,
        name: str,
        prefix: str,
        token_hash: str,
        paths: tuple[str, ...],
        expires_at: float | None,
        now: float,
        *,
        epoch: int | None = None,
    ) -> int:
        """Store a token; its id. Under the user's row lock (the one turning 2FA on takes):
        ``epoch`` is the user's 2FA epoch the caller checked the request under, and a
        different one now (2FA turned on or off since) raises TwoFactorChanged, storing
        nothing. None: no 2FA state was checked (an operator's token)."""
        with self._tx() as s:
            user = self._row(s, user_id, lock=True)
            if epoch is not None and (user.epoch or 0) != epoch:
                raise TwoFactorChanged()
            row = AccessToken(
                user_id=user_id,
                name=name,
                prefix=prefix,
                token_hash=token_hash,
                paths=json.dumps(list(paths)),
                created_at=now,
                expires_at=expires_at,
            )
            s.add(row)
            s.flush()
            return row.id

    def tokens(self, user_id: str) -> list[TokenRecord]:
        with self._tx() as s:
            rows = s.scalars(
                select(AccessToken)
                .where(AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None))
                .order_by(AccessToken.id)
            )
            return [_token_record(r) for r in rows]

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        with self._tx(read=True) as s:
            row = s.scalar(select(AccessToken).where(AccessToken.token_hash == token_hash))
            return None if row is None else _token_record(row)

    def revoke_token(self, token_id: int, user_id: str | None, now: float) -> TokenRecord | None:
        """Revoke a live token (of ``user_id`` when given); None when there is none."""
        with self._tx() as s:
            row = s.get(AccessToken, token_id, with_for_update=True)
            if row is None or row.revoked_at is not None or (user_id is not None and row.user_id != user_id):
                return None
            row.revoked_at = now
            return _token_record(row)

    def touch_token(self, token_id: int, now: float) -> None:
        with self._tx() as s:
            s.execute(update(AccessToken).where(AccessToken.id == token_id).values(last_used_at=now))

    def unlock(self, user_id: str) -> bool:
        """End a lockout and reset the wrong-code count; False when there was neither."""
        with self._tx() as s:
            result = s.execute(
                update(TwoFactorUser)
                .where(TwoFactorUser.user_id == user_id)
                .where((TwoFactorUser.failures > 0) | TwoFactorUser.locked_until.is_not(None))
                .values(failures=0, locked_until=None)
            )
            return cast("CursorResult[Any]", result).rowcount == 1

    # -- trusted browsers ----------------------------------------------------

    def add_trusted_browser(
        self, user_id: str, secret_hash: str, label: str, ip: str | None, epoch: int, expires_at: float, now: float
    ) -> int:
        with self._tx() as s:
            row = TrustedBrowser(
                user_id=user_id, secret_hash=secret_hash, label=label[:100], remote_addr=_address(ip),
                created_at=now, last_used_at=now, expires_at=expires_at, epoch=epoch,
            )
            s.add(row)
            s.flush()
            return row.id

    def trusted_browser(self, browser_id: int) -> TrustedBrowserRecord | None:
        """The record (live or not), None when there is none: never cached, so a
        revocation in another instance holds at once."""
        with self._tx(read=True) as s:
            row = s.get(TrustedBrowser, browser_id)
            return None if row is None else _browser_record(row)

    def trusted_browsers(self, user_id: str, now: float) -> list[TrustedBrowserRecord]:
        """The user's live (not revoked, not expired) trusted browsers, oldest first."""
        with self._tx() as s:
            rows = s.scalars(
                select(TrustedBrowser)
                .where(
                    TrustedBrowser.user_id == user_id,
                    TrustedBrowser.revoked_at.is_(None),
                    TrustedBrowser.expires_at > now,
                )
                .order_by(TrustedBrowser.id)
            )
            return [_browser_record(r) for r in rows]

    def touch_trusted_browser(self, browser_id: int, ip: str | None, now: float) -> None:
        with self._tx() as s:
            s.execute(
                update(TrustedBrowser)
                .where(TrustedBrowser.id == browser_id)
                .values(last_used_at=now, remote_addr=_address(ip))
            )

    def revoke_trusted_browsers(self, user_id: str, browser_id: int | None, now: float) -> int:
        """Revoke the user's live browser ``browser_id``, or all of them when None; how many."""
        with self._tx() as s:
            query = update(TrustedBrowser).where(
                TrustedBrowser.user_id == user_id, TrustedBrowser.revoked_at.is_(None)
            )
            if browser_id is not None:
                query = query.where(TrustedBrowser.id == browser_id)
            return cast("CursorResult[Any]", s.execute(query.values(revoked_at=now))).rowcount

    def change_feed(self) -> invalidation.ChangeFeed | None:
        """Where changes are announced to every instance (PostgreSQL only), else None."""
        return self._change_feed

    def dispose(self) -> None:
        """Close every connection, the change feed's listener too (it does not start again)."""
        if self._change_feed is not None:
            self._change_feed.stop()
        self.engine.dispose()

    def reset(self, user_id: str, now: float) -> ResetCounts | None:
        """An operator's reset, in one transaction: 2FA off (as :meth:`disable`) and every
        live token and trusted browser of the user revoked; None (and nothing changed)
        when 2FA was off."""
        with self._tx() as s:
            if not self._turn_off(s, user_id):
                return None
            revoked = self._revoke_tokens(s, user_id, now, expired_too=True)
            browsers = s.execute(
                update(TrustedBrowser)
                .where(TrustedBrowser.user_id == user_id, TrustedBrowser.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return ResetCounts(
                tokens_revoked=revoked,
                browsers_revoked=cast("CursorResult[Any]", browsers).rowcount,
            )


def _authenticator_record(row: Authenticator) -> AuthenticatorRecord:
    return AuthenticatorRecord(
        id=row.id,
        kind=row.kind,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        credential_id=row.credential_id,
        public_key=row.public_key,
        sign_count=row.sign_count,
        transports=tuple(t for t in row.transports.split(",") if t),
    )

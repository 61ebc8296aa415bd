"""A verification is one transaction of a few statements, on SQLite and PostgreSQL alike.

Counted from what the driver itself runs, so that no layer above can hide one: SQLite's
trace callback (every statement SQLite is given, BEGIN and COMMIT too) and libpq's
protocol trace (every query and every executed statement sent to the server). They
are attached to each connection as the pool hands it out during the verification and
taken off when it comes back, so a change that adds a round trip, a second
transaction or a second connection to the hot path fails here, with the statements
it ran in the message. (The pool's liveness check on checkout, ``pool_pre_ping`` on
PostgreSQL, comes before and is not counted.)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pyotp
import pytest
from sqlalchemy import event, select

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import CodeReused, InvalidCode, Throttled
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.models import SecurityEvent
from twofa_middleware.testing import FixedClock

KEY = "statement-count-secret-key-0123456789"
T0 = 1_700_000_015.0
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

# What one right TOTP code costs, between BEGIN and COMMIT: the row lock, the factors, the writes.
# SQLite: one SELECT (user and factors, under BEGIN IMMEDIATE), UPDATE user, UPDATE authenticator, INSERT log.
# PostgreSQL: SELECT ... FOR UPDATE, SELECT factors, one statement for all three writes.
STATEMENTS = {"sqlite": 4, "postgresql": 3}
_END = re.compile(r"(COMMIT|ROLLBACK)\b", re.IGNORECASE)


@pytest.fixture
def service(store: SQLAlchemyStore) -> TwoFactorService:
    clock = FixedClock(T0)
    service = TwoFactorService(Settings(issuer="Count"), KeyRing(KEY), store, lambda u, p: False, clock=clock)
    service.import_totp("alice", SECRET, "Phone")  # a known secret: a setup's key is the service's own
    clock.advance(60)
    return service


class Statements:
    """What the driver ran: ``statements`` (with BEGIN, COMMIT, ROLLBACK) in order."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def of(self, word: str) -> int:
        return sum(1 for s in self.statements if s.upper().startswith(word))

    def between(self) -> list[str]:
        """The statements after the first BEGIN and before the COMMIT or ROLLBACK that ends it."""
        start = next(i for i, s in enumerate(self.statements) if s.upper().startswith("BEGIN"))
        end = next(i for i, s in enumerate(self.statements) if i > start and _END.match(s))
        return self.statements[start + 1 : end]

    def after(self) -> list[str]:
        """The statements after the first transaction's end."""
        end = next(i for i, s in enumerate(self.statements) if _END.match(s))
        return self.statements[end + 1 :]

    def __repr__(self) -> str:
        return "\n".join(s[:90] for s in self.statements)


class _Wire:
    """libpq's trace of one psycopg connection, in a file, read back as statements.

    psycopg's server-side prepared statements are off meanwhile, so that each statement
    sent carries its text (a prepared one is sent the same way, in as many round trips)."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.threshold = connection.prepare_threshold
        connection.prepare_threshold = None
        self.file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in read()
        connection.pgconn.trace(os.dup(self.file.fileno()))
        connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)

    def read(self) -> list[str]:
        """Each simple query's text, and each executed statement's SQL (named by its Bind)."""
        self.connection.pgconn.untrace()  # flushes the trace
        self.connection.prepare_threshold = self.threshold
        self.file.seek(0)
        prepared: dict[str, str] = {}
        bound, statements = "", []
        for line in re.split(r"\n(?=[FB]\t\d+\t)", self.file.read()):  # an SQL text may span lines
            direction, _length, message, *rest = line.split("\t")
            if direction != "F":
                continue
            quoted = [q.replace('""', '"') for q in re.findall(r'"((?:[^"]|"")*)"', "\t".join(rest))]
            if message == "Query":
                statements.append(quoted[0])
            elif message == "Parse":
                prepared[quoted[0]] = quoted[1]
            elif message == "Bind":
                bound = prepared[quoted[1]]
            elif message == "Execute":
                statements.append(bound)
        self.file.close()
        return statements


@contextmanager
def counted(store: SQLAlchemyStore) -> Iterator[Statements]:
    seen = Statements()
    wires: dict[int, _Wire] = {}

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if isinstance(dbapi_connection, psycopg.Connection):
            wires[id(dbapi_connection)] = _Wire(dbapi_connection)
        else:
            dbapi_connection.set_trace_callback(lambda sql: seen.statements.append(" ".join(sql.split())))

    def checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is None:  # invalidated: nothing more to read
            return
        wire = wires.pop(id(dbapi_connection), None)
        if wire is not None:
            seen.statements.extend(" ".join(s.split()) for s in wire.read())
        elif not isinstance(dbapi_connection, psycopg.Connection):
            dbapi_connection.set_trace_callback(None)

    event.listen(store.engine, "checkout", checkout)
    event.listen(store.engine, "checkin", checkin)
    try:
        yield seen
    finally:
        event.remove(store.engine, "checkout", checkout)
        event.remove(store.engine, "checkin", checkin)
    assert not wires, "a connection was still checked out when the verification returned"


def logged(store: SQLAlchemyStore) -> list[tuple[str, float]]:
    """The security log as SQLAlchemy reads it back: each event and its time."""
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(SecurityEvent.event, SecurityEvent.created_at)
                                               .order_by(SecurityEvent.id))]


def one_transaction(seen: Statements) -> None:
    """Everything the verification ran is one transaction, committed (a lockout's announcement aside)."""
    assert (seen.of("BEGIN"), seen.of("COMMIT"), seen.of("ROLLBACK")) == (1, 1, 0), seen
    assert seen.statements[0].upper().startswith("BEGIN"), seen
    assert all(s.startswith("SELECT pg_notify(") for s in seen.after()), seen


def test_a_right_code_is_one_transaction_of_a_few_statements(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    now = service.clock()
    code = pyotp.TOTP(SECRET).at(int(now))
    with counted(store) as seen:
        assert service.verify("alice", code) == "totp"
    one_transaction(seen)
    assert seen.after() == [], seen  # a plain verification tells no other instance
    assert len(seen.between()) == STATEMENTS[store.engine.dialect.name], seen
    # ...and that transaction wrote what a verification writes, in the columns' own types:
    # the log row, the factor's last use, the spent step (the same code again is refused).
    assert logged(store)[-1] == ("verified", now)
    assert [a.last_used_at for a in store.authenticators("alice")] == [now]
    with counted(store) as again, pytest.raises(CodeReused):
        service.verify("alice", code)
    one_transaction(again)


def test_a_wrong_code_is_counted_and_logged_in_one_transaction(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    now = service.clock()
    with counted(store) as seen, pytest.raises(InvalidCode):
        service.verify("alice", "000000" if pyotp.TOTP(SECRET).at(int(now)) != "000000" else "111111")
    one_transaction(seen)
    assert store.failures("alice") == 1
    assert logged(store)[-1] == ("verify_failed", now)
    assert [a.last_used_at for a in store.authenticators("alice")] == [None]


def test_the_lockout_is_logged_with_the_failure_that_started_it(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    now = service.clock()
    right = pyotp.TOTP(SECRET).at(int(now))
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(service.settings.lockout_threshold - 1):
        with pytest.raises(InvalidCode):
            service.verify("alice", wrong)
    with counted(store) as seen, pytest.raises(InvalidCode) as refused:
        service.verify("alice", wrong)
    attempt = refused.value.attempt
    assert attempt is not None and attempt.locked_until is not None
    one_transaction(seen)
    # The lockout is told to every instance once committed (PostgreSQL: there is no feed on SQLite).
    assert len(seen.after()) == (store.engine.dialect.name == "postgresql"), seen
    assert logged(store)[-2:] == [("verify_failed", now), ("lockout", now)]
    assert store.user_state("alice").locked_until == attempt.locked_until
    # Locked: refused before any write, and the transaction rolled back, not committed.
    with counted(store) as locked, pytest.raises(Throttled):
        service.verify("alice", right)
    assert (locked.of("BEGIN"), locked.of("COMMIT"), locked.of("ROLLBACK")) == (1, 0, 1), locked
    assert logged(store)[-1] == ("lockout", now)

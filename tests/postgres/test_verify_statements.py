"""A verification is one transaction of a few statements, on SQLite and PostgreSQL alike.

Counted from SQLAlchemy's own events (every statement the driver is given, every
commit and rollback), so a change that adds a round trip or a second transaction
to the hot path fails here, with the statements it ran in the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
import pytest
from sqlalchemy import event, select

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidCode
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.models import SecurityEvent
from twofa_middleware.testing import FixedClock

KEY = "statement-count-secret-key-0123456789"
T0 = 1_700_000_015.0
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

# What one right TOTP code costs: the row lock, the factors, the writes, one commit.
# SQLite: BEGIN IMMEDIATE, one SELECT (user and factors), UPDATE user, UPDATE authenticator, INSERT log.
# PostgreSQL: SELECT ... FOR UPDATE, SELECT factors, one statement for all three writes.
STATEMENTS = {"sqlite": 5, "postgresql": 3}


@pytest.fixture
def service(store: SQLAlchemyStore) -> TwoFactorService:
    clock = FixedClock(T0)
    service = TwoFactorService(Settings(issuer="Count"), KeyRing(KEY), store, lambda u, p: False, clock=clock)
    service.import_totp("alice", SECRET, "Phone")  # a known secret: a setup's key is the service's own
    clock.advance(60)
    return service


@contextmanager
def counted(store: SQLAlchemyStore) -> Iterator[dict[str, list[Any]]]:
    seen: dict[str, list[Any]] = {"statements": [], "commits": [], "rollbacks": []}

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen["statements"].append(" ".join(sql.split())[:90])

    def commit(conn: Any) -> None:
        seen["commits"].append(1)

    def rollback(conn: Any) -> None:
        seen["rollbacks"].append(1)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", statement), ("commit", commit), ("rollback", rollback)
    ]
    for name, fn in listeners:
        event.listen(store.engine, name, fn)
    try:
        yield seen
    finally:
        for name, fn in listeners:
            event.remove(store.engine, name, fn)


def logged(store: SQLAlchemyStore) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.scalars(select(SecurityEvent.event).order_by(SecurityEvent.id)))


def test_a_right_code_is_one_transaction_of_a_few_statements(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    code = pyotp.TOTP(SECRET).at(int(service.clock()))
    with counted(store) as seen:
        assert service.verify("alice", code) == "totp"
    dialect = store.engine.dialect.name
    assert len(seen["commits"]) == 1, seen
    assert seen["rollbacks"] == [], seen
    assert len(seen["statements"]) == STATEMENTS[dialect], "\n".join(seen["statements"])
    # ...and that transaction wrote what a verification writes: the log row among it.
    assert logged(store)[-1] == "verified"


def test_a_wrong_code_is_counted_and_logged_in_one_transaction(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    with counted(store) as seen, pytest.raises(InvalidCode):
        service.verify("alice", "000000" if pyotp.TOTP(SECRET).at(int(service.clock())) != "000000" else "111111")
    assert len(seen["commits"]) == 1, seen
    assert store.failures("alice") == 1
    assert logged(store)[-1] == "verify_failed"


def test_the_lockout_is_logged_with_the_failure_that_started_it(service: TwoFactorService) -> None:
    store = service.store
    assert isinstance(store, SQLAlchemyStore)
    right = pyotp.TOTP(SECRET).at(int(service.clock()))
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(service.settings.lockout_threshold - 1):
        with pytest.raises(InvalidCode):
            service.verify("alice", wrong)
    with counted(store) as seen, pytest.raises(InvalidCode) as refused:
        service.verify("alice", wrong)
    assert refused.value.attempt is not None and refused.value.attempt.locked_until is not None
    assert len(seen["commits"]) == 1, seen
    assert logged(store)[-2:] == ["verify_failed", "lockout"]

"""A verification that fails half-way changes nothing, on SQLite and PostgreSQL alike.

The verification runs its statements on the pooled connection's own cursor
(``store/direct.py``), not through SQLAlchemy's execution: these tests hold it to
what SQLAlchemy's transactions gave, with real databases: every failure rolls back
what the attempt wrote (a spent recovery code too), a value the database refuses is
the request's fault (a 400-level refusal), a connection lost mid-way fails closed and
is replaced, and the pool gets every connection back.
"""

from __future__ import annotations

import pytest

from twofa_middleware.errors import InvalidRequest, StoreUnavailable
from twofa_middleware.store import SQLAlchemyStore

from .helpers import PostgresServer

NOW = 1_700_000_015.25
CODES = [("hash-a", "enc-a"), ("hash-b", "enc-b")]


def no_lock(failures: int) -> int:
    return 0


def enable(store: SQLAlchemyStore) -> SQLAlchemyStore:
    store.set_pending_secret("alice", "enc-secret", NOW)
    store.enable("alice", "enc-secret", 100, CODES, NOW)
    return store


def fresh(row) -> int:
    """A check that accepts step 101, and sees that no attempt before spent it."""
    assert row.last_step == 100
    return 101


def spend_then(exc: BaseException):
    """A check that spends a recovery code, then fails as ``exc``."""

    def check(row):
        assert row.consume_recovery_code(["hash-a"], NOW)
        raise exc

    return check


@pytest.mark.parametrize("exc", [RuntimeError("a bug in a check"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_check_that_fails_after_spending_a_code_spends_nothing(make_store, exc):
    # Without the pool's own rollback of a returned connection: the attempt's rollback is what is tested.
    store = enable(make_store(pool_reset_on_return=None))
    with pytest.raises(type(exc)):
        store.attempt("alice", NOW + 30, spend_then(exc), no_lock, lambda refused: [("verified", "totp")])
    assert store.user_state("alice").recovery_codes_left == 2
    assert store.events("alice") == []
    assert store.engine.pool.checkedout() == 0
    # ...and the connection it used serves the next verification.
    assert store.attempt("alice", NOW + 60, fresh, no_lock).failures == 0


def test_a_value_the_database_refuses_is_the_requests_fault_and_changes_nothing(pg_url):
    """PostgreSQL enforces the column's length (SQLite does not): an event name longer
    than its column is a DataError, a refusal of the request, not an outage. (A long
    client address no longer is one: the store cuts it to its column.)"""
    store = enable(SQLAlchemyStore(pg_url))
    try:
        with pytest.raises(InvalidRequest):
            store.attempt(
                "alice", NOW + 30, lambda row: 101, no_lock, lambda refused: [("x" * 41, "totp")], "127.0.0.1"
            )
        assert store.events("alice") == []
        assert store.attempt("alice", NOW + 30, fresh, no_lock).failures == 0
        assert store.engine.pool.checkedout() == 0
    finally:
        store.dispose()


def test_a_connection_lost_mid_verification_fails_closed_and_is_replaced(
    postgres_server: PostgresServer, pg_database_url: str
):
    store = enable(SQLAlchemyStore(pg_database_url))
    try:
        def check_while_the_server_restarts(row):
            assert postgres_server.terminate(pg_database_url) >= 1  # this very connection among them
            return fresh(row)

        with pytest.raises(StoreUnavailable):
            store.attempt("alice", NOW + 30, check_while_the_server_restarts, no_lock,
                          lambda refused: [("verified", "totp")])
        assert store.engine.pool.checkedout() == 0
        # Nothing was written, and the next verification gets a live connection.
        assert store.events("alice") == []
        assert store.attempt("alice", NOW + 30, fresh, no_lock).failures == 0
    finally:
        store.dispose()

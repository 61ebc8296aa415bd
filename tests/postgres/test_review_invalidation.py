"""An attacker's review of instant invalidation (issue #17): ways a change told by one
instance was not seen at once by another. Each test failed before its fix.

Two stores on one schema are two instances, as in test_invalidation.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

from .helpers import enroll, make_service
from .test_invalidation import TARGET, listening, psycopg_url, within

pytestmark = pytest.mark.postgres

# 63 bytes is PostgreSQL's longest identifier: "twofa_changes:" and this name are more.
LONG_SCHEMA = "review17_a_schema_name_long_enough_to_overflow_a_channel"


@pytest.fixture
def long_schema_url(pg_url: str) -> str:
    """A fresh schema whose name leaves no room for the channel prefix in 63 bytes."""
    with psycopg.connect(psycopg_url(pg_url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {LONG_SCHEMA}")
    return make_url(pg_url).update_query_dict({"options": f"-csearch_path={LONG_SCHEMA}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture
def two_long(long_schema_url: str) -> Iterator[tuple[TwoFactorService, TwoFactorService]]:
    stores = [SQLAlchemyStore(long_schema_url), SQLAlchemyStore(long_schema_url)]
    try:
        yield make_service(stores[0]), make_service(stores[1])
    finally:
        for store in stores:
            store.dispose()


def test_a_long_schema_name_still_tells_the_other_instance(two_long):
    """Found: LISTEN truncated the channel to 63 bytes while pg_notify refused it as too
    long, so on such a schema every announcement failed (a logged warning) and 2FA
    turned off on one instance held on the other for cache_seconds."""
    a, b = two_long
    enroll(a, "alice")
    listening(b, "alice")
    assert b.state("alice").enabled  # cached in B
    a.disable("alice")
    within(TARGET, lambda: b.states.get("alice") is None)
    assert not b.state("alice").enabled


def test_a_forked_child_with_inherited_cache_entries_is_told(two):
    """Found: a child forked from a process that had cached a user served that entry from
    the copied cache, and only a cache miss started its own listener, so a change made
    meanwhile held there for cache_seconds (a pre-forking server whose parent served
    requests, or warmed its caches, before forking)."""
    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    assert b.state("alice").enabled  # cached in the parent, and so in the child's copy
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        status = 1
        try:
            assert b.state("alice").enabled  # served from the inherited copy
            a.disable("alice")
            deadline = time.monotonic() + TARGET + 1
            while b.state("alice").enabled and time.monotonic() < deadline:
                time.sleep(0.005)
            status = 0 if not b.state("alice").enabled else 3
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child still saw 2FA on"


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[TwoFactorService, TwoFactorService]]:
    stores = [SQLAlchemyStore(pg_url), SQLAlchemyStore(pg_url)]
    try:
        yield make_service(stores[0]), make_service(stores[1])
    finally:
        for store in stores:
            store.dispose()



@pytest.mark.parametrize("user", [
    "alice:*",  # a colon and the "everything" mark inside an id name that user alone
    "ünïcødé ✓",
    "\U0001f510" * 60,  # 4-byte characters (an id much longer does not fit the setup's QR code)
])
def test_odd_user_ids_are_told_as_themselves(two, user):
    """Tried: ids that could change the payload's meaning or size. Told as the id itself,
    so the other instance drops that user, and only that user."""
    a, b = two
    enroll(a, user)
    enroll(a, "bob")
    listening(b, user)
    assert b.state(user).enabled and b.state("bob").enabled  # both cached in B
    a.disable(user)
    within(TARGET, lambda: b.states.get(user) is None)
    assert not b.state(user).enabled
    assert b.states.get("bob") is not None  # not everything: the payload meant this one user

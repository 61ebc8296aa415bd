"""The attacker's review of the verify transaction, languages and theming: each finding
as the answer a user (or the attacker) now sees, over the real server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.api_support import ApiClient, use_clock
from twofa_middleware.testing import FixedClock


@pytest.fixture
def clock(live_app: Any) -> FixedClock:
    return use_clock(live_app)


@pytest.fixture
def told(live_app: Any) -> list[tuple[str, str]]:
    """What the app's notify hook hears."""
    heard: list[tuple[str, str]] = []
    live_app.middleware.service._notify = lambda user_id, event: heard.append((user_id, event))
    return heard


@pytest.fixture
def broken_once(live_app: Any) -> Iterator[list[str]]:
    """Arm with a statement's first words: the next such statement fails as a dropped
    connection would, once. Yields the arming list."""
    armed: list[str] = []
    engine = live_app.middleware.service.store.engine

    def fail(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if armed and statement.lstrip().upper().startswith(armed[0]):
            armed.clear()
            raise sqlite3.OperationalError("disk I/O error")

    event.listen(engine, "before_cursor_execute", fail)
    yield armed
    event.remove(engine, "before_cursor_execute", fail)


def _log(live_app: Any, user: str) -> list[tuple[str, str]]:
    return [(e.event, e.detail) for e in live_app.middleware.service.store.events(user)]


@pytest.mark.parametrize("kind", ["totp", "recovery"])
def test_a_database_error_mid_verify_is_a_503_that_logs_and_tells_nothing(live_app, clock, told, broken_once, kind):
    """The attempt's transaction fails at its write of the user row (a dropped
    connection, a disk error): the answer is 503 and nothing of the attempt stays. It
    did stay: service.verify then logged a ``verify_failed`` row ("totp:
    store_unavailable") in a transaction of its own and told the notify hook, so the
    user was mailed about a wrong code nobody typed, and the log disagreed with the
    failure count, which was not counted."""
    owner = ApiClient(live_app.url)
    owner.register("mallory-target")
    app, codes = owner.enable(clock)
    owner.login()
    store = live_app.middleware.service.store
    before_log, before_left = _log(live_app, "mallory-target"), store.user_state("mallory-target").recovery_codes_left
    told.clear()

    code = app.code() if kind == "totp" else codes[0]
    broken_once.append("UPDATE TWOFA_USERS")
    r = owner.verify(code)
    assert (r.status_code, r.json()["error"]) == (503, "store_unavailable"), r.text
    assert not broken_once, "the failure was not injected"
    assert _log(live_app, "mallory-target") == before_log
    assert told == []
    assert store.failures("mallory-target") == 0
    assert store.user_state("mallory-target").recovery_codes_left == before_left

    # The store is back: the same code works, once.
    r = owner.verify(code)
    assert r.status_code == 200, r.text
    assert owner.me().status_code == 200

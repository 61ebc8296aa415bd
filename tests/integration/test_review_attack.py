"""The attacker's review of the verify transaction, languages and theming: each finding
as the answer a user (or the attacker) now sees, over the real server."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from tests.integration.api_support import ApiClient, Authenticator, use_clock
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
    """Arm with a statement's first words: the next such statement fails inside SQLite,
    once, as a dropped connection or a disk error would (the verification runs on the
    driver's own cursor, so this sits in the driver: its trace callback sees the statement
    start, and the progress handler then interrupts it). Yields the arming list."""
    armed: list[str] = []
    starting: list[bool] = []
    engine = live_app.middleware.service.store.engine

    def trace(statement: str) -> None:
        if armed and statement.lstrip().upper().startswith(armed[0]):
            armed.clear()
            starting.append(True)

    def interrupt() -> int:
        if starting:
            starting.clear()
            return 1  # SQLite stops the statement: sqlite3.OperationalError "interrupted"
        return 0

    def checkout(driver: sqlite3.Connection, *args: Any) -> None:
        driver.set_trace_callback(trace)
        driver.set_progress_handler(interrupt, 1)

    def checkin(driver: sqlite3.Connection, *args: Any) -> None:
        driver.set_trace_callback(None)
        driver.set_progress_handler(None, 1)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    yield armed
    event.remove(engine, "checkout", checkout)
    event.remove(engine, "checkin", checkin)


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


def test_a_setup_key_read_by_another_sign_in_is_not_the_one_the_user_confirms(live_app, clock):
    """The attacker has alice's password, and alice, fearing just that, turns 2FA on.
    The setup's key was the user's, not the sign-in's: the attacker's own sign-in
    called /enroll first (or polled it while alice set up) and got the very key
    alice's page then showed, so alice's new second factor was the attacker's too."""
    alice = ApiClient(live_app.url)
    alice.register("alice")
    attacker = ApiClient(live_app.url)
    attacker.login("alice")
    attacker.sudo()
    seeded = attacker.post("/enroll").json()["secret"]

    app, _ = alice.enable(clock)  # alice's own setup, within the attacker's setup window
    assert app.totp.secret != seeded
    assert alice.me().status_code == 200

    attacker.login("alice")
    stolen = Authenticator(seeded, clock)
    stolen.last_step = app.last_step
    r = attacker.verify(stolen.code())
    assert (r.status_code, r.json()["error"]) == (400, "invalid_code"), r.text
    assert attacker.me().status_code == 401


def test_a_setup_under_way_is_never_shown_to_another_sign_in(live_app, clock):
    """alice's setup is under way when the attacker's sign-in asks /enroll: it gets a key
    of its own, never alice's. The newest setup wins: alice's confirmation then says the
    setup has expired, and her setup started anew is hers alone (the attacker's key,
    replaced, confirms nothing, and counts no failure)."""
    alice = ApiClient(live_app.url)
    alice.register("alice")
    alice.sudo()
    hers = alice.post("/enroll").json()["secret"]
    attacker = ApiClient(live_app.url)
    attacker.login("alice")
    attacker.sudo()
    theirs = attacker.post("/enroll").json()["secret"]
    assert theirs != hers

    r = alice.post("/enroll/confirm", {"code": Authenticator(hers, clock).code()})
    assert (r.status_code, r.json()["error"]) == (400, "setup_expired"), r.text
    again = alice.post("/enroll").json()["secret"]
    assert again not in (hers, theirs)

    r = attacker.post("/enroll/confirm", {"code": Authenticator(theirs, clock).code()})
    assert (r.status_code, r.json()["error"]) == (400, "setup_expired"), r.text
    assert live_app.middleware.service.store.failures("alice") == 0
    r = alice.post("/enroll/confirm", {"code": Authenticator(again, clock).code()})
    assert r.status_code == 200 and r.json()["enabled"] is True, r.text

"""Turning 2FA on revokes the user's tokens in its own transaction, and a token insert cannot
slip in after it: the store's side, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, text

from twofa_middleware.errors import TooManyAuthenticators, TwoFactorChanged
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import NewAuthenticator

NOW = 1_700_000_015.25
CODES = [("hash-a", "enc-a")]
PHONE = NewAuthenticator("totp", "Phone", secret="enc-phone")


def key(i: int) -> NewAuthenticator:
    return NewAuthenticator("webauthn", f"Key {i}", credential_id=f"cred-{i}", public_key="pk")


def add_token(store: SQLAlchemyStore, user: str, name: str, **kwargs: Any) -> int:
    expires = kwargs.pop("expires_at", NOW + 86400)
    return store.add_token(user, name, "tfa_abcdef", f"hash-{user}-{name}", (), expires, NOW, **kwargs)


def live(store: SQLAlchemyStore, user: str) -> list[str]:
    return [t.name for t in store.tokens(user) if t.expires_at is None or t.expires_at > NOW]


def test_the_first_factor_revokes_every_live_token_of_the_user_and_logs_it(store: SQLAlchemyStore) -> None:
    add_token(store, "alice", "script", epoch=0)
    add_token(store, "alice", "forever", expires_at=None)
    add_token(store, "alice", "expired", expires_at=NOW - 1)
    gone = add_token(store, "alice", "revoked before")
    store.revoke_token(gone, "alice", NOW - 5)
    add_token(store, "bob", "bob's")

    added = store.add_authenticator("alice", PHONE, 0, CODES, NOW + 1, remote_addr="203.0.113.9")

    assert (added.first, added.tokens_revoked) == (True, 2)
    assert live(store, "alice") == [] and live(store, "bob") == ["bob's"]
    assert store.token_by_hash("hash-alice-script").revoked_at == pytest.approx(NOW + 1, abs=1e-3)
    assert store.token_by_hash("hash-alice-revoked before").revoked_at == pytest.approx(NOW - 5, abs=1e-3)
    (row,) = [e for e in store.events("alice") if e.event == "tokens_revoked"]
    assert (row.detail, row.remote_addr) == ("2: 2FA turned on", "203.0.113.9")


def test_one_more_factor_revokes_nothing_and_a_first_without_tokens_logs_nothing(store: SQLAlchemyStore) -> None:
    assert store.add_authenticator("alice", PHONE, 0, CODES, NOW).tokens_revoked == 0
    add_token(store, "alice", "made with 2FA on", epoch=1)
    added = store.add_authenticator("alice", key(1), 0, CODES, NOW + 1)
    assert (added.first, added.tokens_revoked) == (False, 0)
    assert live(store, "alice") == ["made with 2FA on"]
    assert "tokens_revoked" not in [e.event for e in store.events("alice")]


def test_a_token_for_a_2fa_state_that_changed_since_is_refused_and_nothing_stored(store: SQLAlchemyStore) -> None:
    store.add_authenticator("alice", PHONE, 0, CODES, NOW)  # epoch 0 -> 1
    with pytest.raises(TwoFactorChanged) as refused:
        add_token(store, "alice", "checked before 2FA was on", epoch=0)
    assert (refused.value.status, refused.value.code) == (409, "two_factor_changed")
    assert store.tokens("alice") == []
    add_token(store, "alice", "checked under the new state", epoch=1)
    store.disable("alice", NOW)  # epoch 2: a token checked while 2FA was on is refused too
    with pytest.raises(TwoFactorChanged):
        add_token(store, "alice", "checked while 2FA was on", epoch=1)
    assert [t.name for t in store.tokens("alice")] == ["checked under the new state"]


def test_the_limit_on_factors_refuses_one_more_and_stores_nothing(store: SQLAlchemyStore) -> None:
    store.add_authenticator("alice", PHONE, 0, CODES, NOW, limit=2)
    store.add_authenticator("alice", key(1), 0, CODES, NOW, limit=2)
    store.set_pending_secret("alice", "enc-3", NOW)
    epoch = store.user_state("alice").epoch
    with pytest.raises(TooManyAuthenticators) as refused:
        store.add_authenticator("alice", key(2), 0, CODES, NOW, limit=2, pending="enc-3")
    assert (refused.value.status, refused.value.code, refused.value.limit) == (409, "too_many_authenticators", 2)
    assert [a.name for a in store.authenticators("alice")] == ["Phone", "Key 1"]
    assert store.pending_secret("alice", 0) == "enc-3"  # the setup is not spent either
    assert store.user_state("alice").epoch == epoch


def _blocked_on_a_lock(store: SQLAlchemyStore, writer: threading.Thread) -> bool:
    """The token writer waits for the enabling transaction: on PostgreSQL a backend waits on a
    row lock (pg_stat_activity says so); on SQLite the writer thread is still in BEGIN IMMEDIATE."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as conn:
                waiting = conn.execute(text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )).scalar()
            if waiting:
                return True
        elif writer.is_alive():
            writer.join(0.5)
            return writer.is_alive()
        time.sleep(0.05)
    return False


def _racing_the_enabling(enabler: SQLAlchemyStore, other: SQLAlchemyStore, late: Callable[[], Any]) -> tuple[Any, Any]:
    """Two connections: ``enabler`` adds alice's first factor and is held open right after it
    revoked her tokens (its snapshot can no longer see a new row); ``late`` (a write on
    ``other`` for the state "2FA off") then starts, must wait for the row lock, and runs once
    the enabling commits. Returns what each gave (``late``'s TwoFactorChanged as a value)."""
    holding, release = threading.Event(), threading.Event()
    enabling_thread: list[threading.Thread] = []

    @event.listens_for(enabler.engine, "after_cursor_execute")
    def hold_open(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE twofa_tokens") and threading.current_thread() in enabling_thread:
            holding.set()
            assert release.wait(20)

    outcome: dict[str, Any] = {}

    def enable() -> None:
        outcome["first"] = enabler.add_authenticator("alice", PHONE, 0, CODES, NOW)

    def run_late() -> None:
        try:
            outcome["late"] = late()
        except TwoFactorChanged as exc:
            outcome["late"] = exc

    a, b = threading.Thread(target=enable), threading.Thread(target=run_late)
    enabling_thread.append(a)
    a.start()
    try:
        assert holding.wait(20)
        b.start()
        assert _blocked_on_a_lock(other, b), "the late write did not wait for the enabling transaction"
    finally:
        release.set()
        a.join(20)
        b.join(20)
    return outcome["first"], outcome["late"]


def test_a_token_insert_racing_the_enabling_transaction_is_refused(make_store: Any) -> None:
    """A token insert for the state "2FA off" racing the enabling is refused once it commits.
    Without the lock it would commit in between and outlive the revocation."""
    enabler, maker = make_store(), make_store()
    add_token(enabler, "alice", "old")
    added, late = _racing_the_enabling(enabler, maker, lambda: add_token(maker, "alice", "late", epoch=0))
    assert added.tokens_revoked == 1
    assert isinstance(late, TwoFactorChanged)
    assert maker.tokens("alice") == []  # the late token is nowhere, the old one revoked
    assert maker.token_by_hash("hash-alice-late") is None


def test_a_factor_added_for_a_2fa_state_that_changed_since_is_refused_and_nothing_stored(
    store: SQLAlchemyStore,
) -> None:
    """The attacker's second review: a stale "2FA off" must not let the password alone add
    one more factor to a user who has 2FA now (it would pass the second factor for good)."""
    store.add_authenticator("alice", PHONE, 0, CODES, NOW)  # elsewhere: epoch 0 -> 1
    store.set_pending_secret("alice", "enc-attacker", NOW)
    with pytest.raises(TwoFactorChanged):
        store.add_authenticator("alice", key(1), 0, CODES, NOW, pending="enc-attacker", epoch=0)
    assert [a.name for a in store.authenticators("alice")] == ["Phone"]
    assert store.user_state("alice").epoch == 1
    store.add_authenticator("alice", key(2), 0, CODES, NOW, epoch=1)  # under the state it now is: added
    assert [a.name for a in store.authenticators("alice")] == ["Phone", "Key 2"]


def test_a_factor_racing_the_enabling_transaction_is_refused(make_store: Any) -> None:
    """As for a token: a factor for the state "2FA off" waits for the enabling transaction's
    row lock and is then refused, not added as one more."""
    enabler, adder = make_store(), make_store()
    first, late = _racing_the_enabling(
        enabler, adder, lambda: adder.add_authenticator("alice", key(1), 0, CODES, NOW, epoch=0)
    )
    assert first.first
    assert isinstance(late, TwoFactorChanged)
    assert [x.name for x in adder.authenticators("alice")] == ["Phone"]

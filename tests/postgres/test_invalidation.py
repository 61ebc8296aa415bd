"""Changes told across instances at once over PostgreSQL LISTEN/NOTIFY (invalidation.py).

Two stores on one schema are two instances; each has its own engine, listener
thread and connection, in this one process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from twofa_middleware.cli import main
from twofa_middleware.errors import InvalidCode
from twofa_middleware.invalidation import CHANNEL_PREFIX, ChangeFeed
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

from .helpers import PostgresServer, enroll, make_service, wrong_code

pytestmark = pytest.mark.postgres

TARGET = 0.5  # seconds: a change through one instance is seen by the other within this


@pytest.fixture
def two(pg_url: str) -> Iterator[tuple[TwoFactorService, TwoFactorService]]:
    stores = [SQLAlchemyStore(pg_url), SQLAlchemyStore(pg_url)]
    try:
        yield make_service(stores[0]), make_service(stores[1])
    finally:
        for store in stores:
            store.dispose()


def feed_of(service: TwoFactorService) -> ChangeFeed:
    feed = service.store.change_feed()
    assert feed is not None
    return feed


def listening(service: TwoFactorService, user: str) -> None:
    """Start the service's listener (as its first cache miss does) and wait until LISTEN took effect."""
    service.state(user)
    assert feed_of(service).listening.wait(10), "the listener did not connect"


def within(seconds: float, condition: Callable[[], bool]) -> float:
    """How long ``condition`` took to hold; fails when it did not within ``seconds``."""
    started = time.monotonic()
    while not condition():
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"not within {seconds} s"
        time.sleep(0.005)
    return time.monotonic() - started


def psycopg_url(pg_url: str) -> str:
    return make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_2fa_turned_off_through_one_is_dropped_by_the_other_at_once(two):
    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    assert b.state("alice").enabled  # cached in B
    a.disable("alice")
    within(TARGET, lambda: b.states.get("alice") is None)
    assert not b.state("alice").enabled


def test_a_revoked_token_is_dropped_by_the_other_at_once(two):
    a, b = two
    listening(b, "alice")
    token_id, token = a.tokens.create_token("alice", "script")
    assert b.token_record(token) is not None and b.token_record(token).revoked_at is None  # cached in B
    a.tokens.revoke_token(token_id, "alice")
    within(TARGET, lambda: (r := b.token_record(token)) is not None and r.revoked_at is not None)


def test_a_new_epoch_and_new_codes_are_dropped_by_the_other(two):
    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    before = b.state("alice")
    a.disable("alice")
    enroll(a, "alice")  # on again: a new epoch, so every earlier verified sign-in ends
    within(TARGET, lambda: b.state("alice").epoch != before.epoch)
    cached = b.state("alice")
    a.regenerate_recovery_codes("alice")
    within(TARGET, lambda: b.states.get("alice") is not cached)


def test_the_token_cache_of_a_reset_user_is_dropped_by_the_other(two):
    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    _, token = a.tokens.create_token("alice", "script")
    assert b.token_record(token).revoked_at is None
    a.reset("alice")  # the operator's reset revokes every token of the user
    within(TARGET, lambda: b.token_record(token).revoked_at is not None)


def test_a_plain_code_check_tells_no_one(two, pg_url):
    """A successful TOTP verify changes nothing another instance caches: no NOTIFY, no round trip."""
    a, _ = two
    authenticator, _ = enroll(a, "alice")
    with listener(pg_url) as received:
        a.verify("alice", authenticator.at(time.time() + 30))
        a.tokens.create_token("alice", "script")  # a new token cannot be in any cache yet
        time.sleep(0.3)
        assert received == []
        a.regenerate_recovery_codes("alice")
        within(2, lambda: received == ["u:alice"])


def test_what_is_told_is_never_secret(two, pg_url):
    a, _ = two
    token_id, token = a.tokens.create_token("alice", "script")
    with listener(pg_url) as received:
        a.tokens.revoke_token(token_id, None)
        within(2, lambda: len(received) == 1)
    assert received == [f"t:{token_id}"]
    assert token not in received[0]


def test_a_killed_listener_reconnects_and_drops_everything_once(two, postgres_server: PostgresServer):
    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    feed = feed_of(b)
    assert b.state("alice").enabled and feed.connects == 1
    old_backend = feed.backend_pid
    with postgres_server.admin() as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (old_backend,)).fetchone() == (True,)
    within(10, lambda: feed.connects == 2 and feed.listening.is_set())
    assert feed.backend_pid != old_backend
    assert b.states.get("alice") is None  # everything dropped on reconnect
    time.sleep(0.5)
    assert feed.connects == 2  # once
    b.state("alice")
    a.disable("alice")
    within(TARGET, lambda: b.states.get("alice") is None)  # and listening again


def test_a_value_read_before_a_told_change_is_not_cached_after_it(pg_url):
    """The caches' generation holds for changes told from elsewhere, too."""
    writer, reader_store = SQLAlchemyStore(pg_url), _PausingStore(pg_url)
    try:
        a, b = make_service(writer), make_service(reader_store)
        enroll(a, "alice")
        listening(b, "alice")
        b.states.pop("alice")
        reader_store.pause.clear()
        reading = threading.Thread(target=b.state, args=("alice",))
        reading.start()
        assert reader_store.reading.wait(5)  # B has read "enabled" and not cached it yet
        generation = b.states.generation
        a.disable("alice")
        within(TARGET, lambda: b.states.generation > generation)  # B was told
        reader_store.pause.set()
        reading.join(5)
        assert b.states.get("alice") is None  # the stale read was not cached
        assert not b.state("alice").enabled
    finally:
        writer.dispose()
        reader_store.dispose()


class _PausingStore(SQLAlchemyStore):
    """Holds a user-state read after the database answered (the gap a told change can fall in)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.pause = threading.Event()
        self.pause.set()
        self.reading = threading.Event()

    def user_state(self, user_id: str) -> Any:
        state = super().user_state(user_id)
        if not self.pause.is_set():
            self.reading.set()
            self.pause.wait(5)
        return state


def test_with_instant_invalidation_off_the_other_waits_for_its_cache_time(pg_url):
    stores = [SQLAlchemyStore(pg_url), SQLAlchemyStore(pg_url)]
    try:
        a = make_service(stores[0], instant_invalidation=False)
        b = make_service(stores[1], instant_invalidation=False, cache_seconds=60)
        enroll(a, "alice")
        assert b.state("alice").enabled
        a.disable("alice")
        time.sleep(1)
        assert b.states.get("alice") is not None and b.state("alice").enabled  # the cache time holds it
        assert not any(t.name == "twofa-change-feed" for t in threading.enumerate())
    finally:
        for store in stores:
            store.dispose()


def test_sqlite_has_no_change_feed(tmp_path):
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db")
    try:
        assert store.change_feed() is None
    finally:
        store.dispose()


def test_dispose_stops_the_listener_and_closes_its_connection(pg_url, postgres_server: PostgresServer):
    store = SQLAlchemyStore(pg_url)
    service = make_service(store)
    listening(service, "alice")
    backend = feed_of(service).backend_pid
    store.dispose()
    assert not any(t.name == "twofa-change-feed" for t in threading.enumerate())
    with postgres_server.admin() as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()
    assert row == (0,)


def test_an_announcement_that_fails_is_logged_not_raised(caplog):
    """The write stands; the others see it within cache_seconds."""
    broken = ChangeFeed(_BrokenEngine())  # type: ignore[arg-type]
    broken.announce("u:alice")
    assert "could not announce" in caplog.text and "alice" not in caplog.text


class _BrokenEngine:
    def connect(self) -> Any:
        raise psycopg.OperationalError("server closed the connection")


class listener:  # noqa: N801 - used as a context manager, like a function
    """A raw LISTEN on the schema's channel; collects the payloads told (what any instance receives)."""

    def __init__(self, pg_url: str) -> None:
        url = make_url(pg_url)
        self.schema = url.query["options"].split("=", 1)[1]  # type: ignore[union-attr]
        self.url = psycopg_url(pg_url)
        self.received: list[str] = []
        self._stop = threading.Event()

    def __enter__(self) -> list[str]:
        self.conn = psycopg.connect(self.url, autocommit=True)
        self.conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(CHANNEL_PREFIX + self.schema)))
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        return self.received

    def _run(self) -> None:
        while not self._stop.is_set():
            for notify in self.conn.notifies(timeout=0.1):
                self.received.append(notify.payload)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join(5)
        self.conn.close()


def test_the_operators_commands_tell_every_instance(two, pg_url):
    """``twofa tokens revoke`` and ``twofa unlock`` run in a process of their own: they tell too."""
    a, b = two
    authenticator, _ = enroll(a, "alice")
    listening(b, "alice")
    token_id, token = a.tokens.create_token("alice", "script")
    assert b.token_record(token).revoked_at is None
    result = CliRunner().invoke(main, ["--database-url", pg_url, "tokens", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    within(TARGET, lambda: b.token_record(token).revoked_at is not None)

    for _ in range(5):
        with pytest.raises(InvalidCode):
            a.verify("alice", wrong_code(authenticator))
    within(TARGET, lambda: b.state("alice").locked_until is not None)  # the lockout is told too
    result = CliRunner().invoke(main, ["--database-url", pg_url, "unlock", "alice"])
    assert result.exit_code == 0, result.output
    within(TARGET, lambda: b.state("alice").locked_until is None)


def test_a_forked_child_listens_on_a_connection_of_its_own(two):
    """A pre-forking server's worker: the parent's listener did not come along; the child's
    first cache miss starts its own, and the parent's keeps working."""
    import os

    a, b = two
    enroll(a, "alice")
    listening(b, "alice")
    feed = feed_of(b)
    parent_backend = feed.backend_pid
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        status = 1
        try:
            if feed.backend_pid == parent_backend and not feed.listening.is_set():
                b.state("alice")
                if feed.listening.wait(10) and feed.backend_pid != parent_backend:
                    b.state("alice")
                    a.regenerate_recovery_codes("alice")
                    deadline = time.monotonic() + TARGET
                    while b.states.get("alice") is not None and time.monotonic() < deadline:
                        time.sleep(0.005)
                    status = 0 if b.states.get("alice") is None else 3
            else:
                status = 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert feed.backend_pid == parent_backend and feed.listening.is_set()
    b.state("alice")
    a.disable("alice")
    within(TARGET, lambda: b.states.get("alice") is None)  # the parent still listens

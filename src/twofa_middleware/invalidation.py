"""Every instance drops what another one changed, at once: PostgreSQL LISTEN/NOTIFY.

Each process caches user states and token records for ``cache_seconds``, so the
hot path needs no database. With PostgreSQL, a write that changes what those
caches hold is announced right after its commit (``pg_notify`` on the channel
``twofa_changes:<schema>``, or a digest of a schema name too long for a
channel), and one listener thread per process drops the
entries it names. The payload says what to drop and is never secret: a user
id (``u:alice``), a token's row id (``t:42``) or everything (``*``).

Announced after the commit, not inside the write's transaction: the store's
transactions stay as they are (one place announces, for every write), and an
announcement can never be of a write that was rolled back. A notification
lost (a dropped connection, a crash between commit and NOTIFY) costs no more
than without it: every entry still ends after ``cache_seconds``, and a
listener that (re)connects drops everything once, since it may have missed
something while it was not listening.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import text

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from .config import Settings
    from .store.base import Store

log = logging.getLogger("twofa_middleware")

CHANNEL_PREFIX = "twofa_changes:"
EVERYTHING = "*"
MAX_PAYLOAD = 7900  # bytes; PostgreSQL refuses a payload of 8000 or more

# The schema's channel, as both ends compute it. A channel is an identifier (63 bytes at
# most): LISTEN would cut a longer one short while pg_notify refuses it, so a schema name
# that leaves no room is replaced by a digest of it.
_CHANNEL = (
    f"CASE WHEN octet_length('{CHANNEL_PREFIX}' || current_schema()) <= 63 "
    f"THEN '{CHANNEL_PREFIX}' || current_schema() "
    f"ELSE '{CHANNEL_PREFIX}' || left(encode(sha256(convert_to(current_schema(), 'UTF8')), 'hex'), 40) END"
)
_NOTIFY = text(f"SELECT pg_notify({_CHANNEL}, :change)")


def user_change(user_id: str) -> str:
    """The announcement of a change to a user's state (and so to their tokens)."""
    return "u:" + user_id


def token_change(token_id: int) -> str:
    return f"t:{token_id}"


class Subscriber(Protocol):
    """Caches that drop entries when told (the service)."""

    def drop_user(self, user_id: str) -> None: ...

    def drop_token(self, token_id: int) -> None: ...

    def forget_cached(self) -> None: ...


def announce(store: Store, settings: Settings, change: str) -> None:
    """Tell every instance of a change ``store`` has committed (PostgreSQL, unless turned off)."""
    feed = store.change_feed() if settings.instant_invalidation else None
    if feed is not None:
        feed.announce(change)


def dispatch(subscriber: Subscriber, change: str) -> None:
    """Drop what ``change`` names; anything not understood drops everything (the safe answer)."""
    kind, _, value = change.partition(":")
    if kind == "u" and value:
        subscriber.drop_user(value)
    elif kind == "t" and value.isascii() and value.isdigit():  # "²" is a digit int() refuses
        subscriber.drop_token(int(value))
    else:
        subscriber.forget_cached()


class ChangeFeed:
    """Announces changes on one PostgreSQL database and listens for everyone's.

    One per store and process. The listener starts on first use in each process
    (:meth:`ensure_listening`, called before a cache is filled from the store), so
    a pre-forking server's workers each get their own thread and connection;
    :meth:`stop` ends it (the store's ``dispose`` calls it).

    :param engine: the store's engine (a ``postgresql+psycopg`` one): the listener
        takes one connection out of its pool for good, with the same settings.
    :param poll_seconds: how long one wait for notifications lasts; bounds how long :meth:`stop` takes.
    :param ping_seconds: an idle connection is checked this often, so one that died
        silently is found and replaced.
    """

    def __init__(
        self, engine: Engine, *, poll_seconds: float = 0.5, ping_seconds: float = 5.0, max_backoff: float = 5.0
    ) -> None:
        self._engine = engine
        self._poll_seconds = poll_seconds
        self._ping_seconds = ping_seconds
        self._max_backoff = max_backoff
        self._subscribers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._connection: Any = None
        self._inherited: list[Any] = []  # a parent's connection: never used nor closed in the child
        # For tests and monitoring: LISTEN took effect this many times (each one dropped every cache).
        self.connects = 0
        self.listening = threading.Event()
        self.backend_pid: int | None = None
        _feeds.add(self)

    def subscribe(self, subscriber: Subscriber) -> None:
        """Have ``subscriber`` told of every change (held weakly: a dropped service is forgotten)."""
        self._subscribers.add(subscriber)

    # -- announcing ------------------------------------------------------------------

    def announce(self, change: str) -> None:
        """Tell every instance (this one too) of a committed change. A failure is logged,
        not raised: the write stands, and the others see it within ``cache_seconds``."""
        if len(change.encode()) > MAX_PAYLOAD:
            change = EVERYTHING
        try:
            with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(_NOTIFY, {"change": change})
        except Exception as exc:  # noqa: BLE001 - the change is committed; only its announcement failed
            log.warning("twofa: could not announce a change to other instances (%s); they see it "
                        "within cache_seconds", type(exc).__name__)

    # -- listening ---------------------------------------------------------------------

    def ensure_listening(self) -> None:
        """Start this process's listener unless it runs (cheap when it does)."""
        if self._pid == _pid:
            return
        with self._lock:
            if self._pid == _pid or self._stopped.is_set():
                return
            self._pid = _pid
            self._thread = threading.Thread(target=self._run, name="twofa-change-feed", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (waits for the thread)."""
        self._stopped.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(self._poll_seconds + 10)

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopped.is_set():
            try:
                self._listen()
            except Exception as exc:  # noqa: BLE001 - never crash the app: reconnect
                backoff = 0.1 if self.listening.is_set() else min(backoff * 2, self._max_backoff)
                log.warning("twofa: change feed lost (%s); reconnecting in %.1f s; until then other "
                            "instances' changes are seen within cache_seconds", type(exc).__name__, backoff)
            finally:
                self.listening.clear()
                self._close()
            self._stopped.wait(backoff)

    def _listen(self) -> None:
        """Connect, LISTEN, drop every cache once, then hand each notification on until stopped."""
        import psycopg  # the psycopg driver is what the feed is made for (see ``for_engine``)

        pooled = self._engine.raw_connection()
        pooled.detach()  # out of the pool for good: the pool opens another in its place
        conn: psycopg.Connection[Any] = pooled.dbapi_connection  # type: ignore[assignment]
        self._connection = conn
        conn.rollback()  # a pre-ping may have begun a transaction
        conn.autocommit = True
        row = conn.execute(f"SELECT {_CHANNEL}").fetchone()
        channel = row[0] if row and row[0] else CHANNEL_PREFIX
        conn.execute(psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel)))
        self.backend_pid = conn.info.backend_pid
        # Anything cached before LISTEN took effect may have missed a change.
        self._dispatch(EVERYTHING)
        self.connects += 1
        self.listening.set()
        checked = time.monotonic()
        while not self._stopped.is_set():
            for notify in conn.notifies(timeout=self._poll_seconds):
                self._dispatch(notify.payload)
            if time.monotonic() - checked >= self._ping_seconds:
                conn.execute("SELECT 1")
                checked = time.monotonic()

    def _dispatch(self, change: str) -> None:
        for subscriber in list(self._subscribers):
            try:
                dispatch(subscriber, change)
            except Exception:  # noqa: BLE001 - one subscriber's failure must not stop the others
                log.warning("twofa: a cache could not drop a changed entry", exc_info=False)

    def _close(self) -> None:
        conn, self._connection = self._connection, None
        if conn is not None:
            with contextlib.suppress(Exception):  # it is being thrown away anyway
                conn.close()

    def _forked(self) -> None:
        """In a new child: the parent's thread did not come along, and its connections (the
        listener's, the pool's) are the parent's: the child's pool starts empty (SQLAlchemy's
        advice for forks), so the child's listener never shares a socket with the parent."""
        self._engine.dispose(close=False)
        self._lock = threading.Lock()
        self.listening = threading.Event()
        self._thread = None
        self._pid = None
        if self._connection is not None:
            self._inherited.append(self._connection)
            self._connection = None


def for_engine(engine: Engine) -> ChangeFeed | None:
    """A feed for a PostgreSQL engine on psycopg 3; None for anything else (SQLite keeps the
    ``cache_seconds`` bound alone)."""
    if engine.dialect.name != "postgresql":
        return None
    if engine.dialect.driver != "psycopg":
        log.warning("twofa: instant invalidation needs the psycopg driver (postgresql+psycopg://); "
                    "other instances' changes are seen within cache_seconds")
        return None
    return ChangeFeed(engine)


# This process's id, kept current across forks: ``ensure_listening`` compares it at each call.
_pid = os.getpid()
_feeds: weakref.WeakSet[ChangeFeed] = weakref.WeakSet()


def _after_fork() -> None:
    global _pid  # noqa: PLW0603 - one value per process, by design
    _pid = os.getpid()
    for feed in list(_feeds):
        feed._forked()


os.register_at_fork(after_in_child=_after_fork)

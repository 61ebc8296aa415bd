"""What a verification cannot cost less than, measured beside the real one.

``pair(url)`` gives ``(verify_once, floor_once, close)``. ``verify_once`` is
:meth:`TwoFactorService.verify` in-process with a right code; ``floor_once``
is the least any verification must do for the same guarantees, written by
hand on the bare DB-API connection: one Fernet decrypt, one pyotp check, and
the same row lock (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on
PostgreSQL), the same writes (the user's last step and failure count, the
authenticator's last use, the security-log row) and one commit.

Each call, of either callable, is one step of a clock of its own moved 30 s
ahead: every call has a fresh code for a fresh step, however many calls are
made, and spreads over ``USERS`` seeded users like real sign-ins.

``python -m bench.floor [URL ...]`` prints the median ratio verify ÷ floor of
many short alternating rounds, for a SQLite file and the PostgreSQL of
``BENCH_POSTGRES_URL`` by default.
"""

from __future__ import annotations

import base64
import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pyotp
from cryptography.fernet import Fernet
from sqlalchemy import delete, insert

from twofa_middleware import SQLAlchemyStore
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing, derive_key
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store.models import Authenticator, SecurityEvent, TwoFactorUser

from . import apps

USERS = 1_000
PREFIX = "floor"  # the seeded users' ids: apart from any other benchmark's in the same database
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/twofa_floor"


def user_id(n: int) -> str:
    return f"{PREFIX}{n:07d}"


def seed(store: SQLAlchemyStore, users: int = USERS) -> None:
    """``users`` users with one authenticator app each, replacing any seeded before."""
    store.create_schema()
    now = time.time()
    encrypted = KeyRing(apps.SECRET_KEY).encrypt(apps.TOTP_SECRET)
    ids = [user_id(n) for n in range(users)]
    with store.engine.begin() as conn:
        for table in (SecurityEvent, Authenticator, TwoFactorUser):
            conn.execute(delete(table).where(table.user_id.like(f"{PREFIX}%")))
        conn.execute(insert(TwoFactorUser), [
            {"user_id": u, "enabled_at": now, "last_step": 0, "failures": 0, "epoch": 1} for u in ids
        ])
        conn.execute(insert(Authenticator), [
            {"user_id": u, "kind": "totp", "name": "Authenticator app", "secret": encrypted,
             "sign_count": 0, "transports": "", "created_at": now} for u in ids
        ])


# The floor's SQL, in SQLite's parameter style (``?``; PostgreSQL's driver takes ``%s``).
_LOCK = "SELECT last_step, locked_until FROM twofa_users WHERE user_id = ? FOR UPDATE"
_FACTORS = "SELECT id, secret FROM twofa_authenticators WHERE user_id = ? AND kind = 'totp'"
# SQLite: the write lock is taken at BEGIN IMMEDIATE, so one read sees rows nobody else can change.
_LOCKED_READ_SQLITE = (
    "SELECT u.last_step, u.locked_until, a.id, a.secret FROM twofa_users u "
    "JOIN twofa_authenticators a ON a.user_id = u.user_id WHERE u.user_id = ? AND a.kind = 'totp'"
)
_WRITE_USER = "UPDATE twofa_users SET last_step = ?, failures = 0, locked_until = NULL WHERE user_id = ?"
_WRITE_FACTOR = "UPDATE twofa_authenticators SET last_used_at = ? WHERE id = ?"
_LOG = (
    "INSERT INTO twofa_security_log (user_id, event, detail, remote_addr, created_at) "
    "VALUES (?, 'verified', 'totp', NULL, ?)"
)


def _floor(
    store: SQLAlchemyStore, step_clock: Callable[[], tuple[str, float]], codes: pyotp.TOTP
) -> tuple[Callable[[], None], Any]:
    dialect = store.engine.dialect.name
    raw = store.engine.raw_connection()
    fernet = Fernet(base64.urlsafe_b64encode(derive_key(apps.SECRET_KEY, "twofa.encryption")))
    lite = dialect == "sqlite"

    def sql(statement: str) -> str:
        return statement if lite else statement.replace("?", "%s")

    lock, factors, write_user, write_factor, log = map(sql, (_LOCK, _FACTORS, _WRITE_USER, _WRITE_FACTOR, _LOG))

    def floor_once() -> None:
        user, now = step_clock()
        code = codes.at(int(now))
        at: datetime | str = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        if lite:  # SQLite keeps times as text, in SQLAlchemy's format (as the store writes them)
            at = at.strftime("%Y-%m-%d %H:%M:%S.%f")
        cursor = raw.cursor()
        try:
            if lite:  # pysqlite is in autocommit mode here (as the store sets it): BEGIN by hand
                cursor.execute("BEGIN IMMEDIATE")
                last_step, locked_until, factor_id, secret = cursor.execute(_LOCKED_READ_SQLITE, (user,)).fetchone()
            else:  # psycopg begins the transaction itself, as under the store
                cursor.execute(lock, (user,))
                last_step, locked_until = cursor.fetchone()
                cursor.execute(factors, (user,))
                factor_id, secret = cursor.fetchone()
            plain = fernet.decrypt(secret.encode("ascii")).decode()
            step = int(now) // 30
            if locked_until is not None or step <= last_step or not pyotp.TOTP(plain).verify(
                code, for_time=int(now), valid_window=1
            ):
                raise RuntimeError("floor: the code was refused")
            cursor.execute(write_user, (step, user))
            cursor.execute(write_factor, (at, factor_id))
            cursor.execute(log, (user, at))
            if lite:
                cursor.execute("COMMIT")
            else:
                raw.commit()
        except BaseException:
            if lite:
                cursor.execute("ROLLBACK")
            else:
                raw.rollback()
            raise
        finally:
            cursor.close()

    return floor_once, raw


def pair(
    database_url: str, **store_options: Any
) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """``(verify_once, floor_once, close)`` on the database at ``database_url`` (seeded here);
    ``store_options`` go to :class:`SQLAlchemyStore` (``sqlite_synchronous``)."""
    store = SQLAlchemyStore(database_url, **store_options)
    seed(store)
    # One clock for both: each call, of either side, is the next step of the next user.
    start = time.time() + 3600
    counter = itertools.count(1)

    def step_clock() -> tuple[str, float]:
        k = next(counter)
        return user_id(k % USERS), start + 30 * k

    now = [start]
    codes = pyotp.TOTP(apps.TOTP_SECRET)  # what the user's app shows: both sides compute it alike
    service = TwoFactorService(
        Settings(issuer="Bench"), KeyRing(apps.SECRET_KEY), store, lambda u, p: False, clock=lambda: now[0]
    )

    def verify_once() -> None:
        user, at = step_clock()
        now[0] = at
        if service.verify(user, codes.at(int(at))) != "totp":
            raise RuntimeError("verify: not a TOTP sign-in")

    floor_once, raw = _floor(store, step_clock, codes)

    def close() -> None:
        raw.close()
        store.dispose()

    return verify_once, floor_once, close


def ratio(verify_once: Callable[[], None], floor_once: Callable[[], None], rounds: int = 41,
          calls: int = 20) -> tuple[float, float, float]:
    """``(verify µs, floor µs, ratio)``: medians over ``rounds`` alternating rounds of ``calls`` each."""
    def per_call_us(fn: Callable[[], None]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - started) / calls * 1e6

    for fn in (verify_once, floor_once):  # warm up: the pool, the statement caches, the schema check
        per_call_us(fn)
    verify_us, floor_us, ratios = [], [], []
    for i in range(rounds):
        order = (verify_once, floor_once) if i % 2 == 0 else (floor_once, verify_once)
        first, second = (per_call_us(fn) for fn in order)
        v, f = (first, second) if i % 2 == 0 else (second, first)
        verify_us.append(v)
        floor_us.append(f)
        ratios.append(v / f)
    return statistics.median(verify_us), statistics.median(floor_us), statistics.median(ratios)


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="twofa-floor-") as tmp:
        runs: list[tuple[str, str, dict[str, Any]]] = [(url.split(":")[0], url, {}) for url in argv] or [
            ("SQLite, synchronous FULL", f"sqlite:///{tmp}/full.db", {"sqlite_synchronous": "FULL"}),
            ("SQLite, synchronous NORMAL", f"sqlite:///{tmp}/normal.db", {"sqlite_synchronous": "NORMAL"}),
            ("PostgreSQL", os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL), {}),
        ]
        for label, url, options in runs:
            try:
                verify_once, floor_once, close = pair(url, **options)
            except Exception as exc:  # noqa: BLE001 - an unreachable database is reported, not fatal
                print(f"{label:<28} not measured: {type(exc).__name__}: {exc}"[:200])
                continue
            try:
                v, f, r = ratio(verify_once, floor_once)
            finally:
                close()
            print(f"{label:<28} verify {v:6.0f} µs   floor {f:6.0f} µs   verify ÷ floor {r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Helpers for the store tests on SQLite and PostgreSQL: throwaway databases, a service, enrollment.

An explicit module, so no test imports the conftest.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import psycopg
import pyotp
from sqlalchemy.engine import make_url

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

KEY = "store-test-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"


class PostgresServer:
    """Creates throwaway databases on the test server and drops them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.prefix = f"twofa_test_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self._session_db: str | None = None
        self._schemas = 0
        self._lock = threading.RLock()

    def admin(self) -> psycopg.Connection:
        """An autocommit connection to the configured database (CREATE DATABASE needs one)."""
        u = self.url
        return psycopg.connect(
            host=u.host, port=u.port or 5432, user=u.username, password=u.password,
            dbname=u.database, autocommit=True, connect_timeout=5,
        )

    def new_database(self) -> str:
        with self._lock:
            name = f"{self.prefix}_{len(self.created)}"
            self.created.append(name)
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def new_schema(self) -> str:
        """A URL whose connections work in a new, empty schema of the session's database."""
        with self._lock:
            if self._session_db is None:
                self._session_db = self.new_database()
            self._schemas += 1
            name = f"t{self._schemas}"
        with psycopg.connect(make_url(self._session_db).render_as_string(hide_password=False).replace(
            "postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        url = make_url(self._session_db).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def backends(self, database_url: str) -> int:
        """Open server connections to that database (pg_stat_activity)."""
        with self.admin() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (make_url(database_url).database,)
            ).fetchone()
        return int(row[0]) if row else 0

    def terminate(self, database_url: str) -> int:
        """Kill every server connection to that database, as a server restart would."""
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (make_url(database_url).database,),
            ).fetchall()
        return len(rows)

    def drop_all(self) -> None:
        with self.admin() as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_service(store: SQLAlchemyStore, **settings: Any) -> TwoFactorService:
    return TwoFactorService(
        Settings(**settings), KeyRing(KEY), store, lambda user_id, password: password == PASSWORD
    )


def enroll(service: TwoFactorService, user_id: str) -> tuple[pyotp.TOTP, list[str]]:
    """Turn 2FA on for ``user_id`` the way a user does; returns the authenticator and the codes."""
    secret = service.enrollment(user_id).secret
    authenticator = pyotp.TOTP(secret)
    codes = service.confirm_enrollment(user_id, authenticator.at(service.clock())).recovery_codes
    return authenticator, codes


def wrong_code(authenticator: pyotp.TOTP) -> str:
    """A six-digit code that is not the authenticator's for any step near now."""
    near = {authenticator.at(time.time() + 30 * k) for k in range(-30, 31)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)

"""Fixtures of the end-to-end suite: real node, gunicorn and nginx processes on loopback.

Two stacks share one Node upstream (``tests/e2e/upstream.js``):

- ``nginx``: nginx configured with README's forward-auth snippet (read from
  README.md at test time), asking the forward-auth app under gunicorn;
- ``proxy``: the reverse proxy (``app_from_env()``) under gunicorn, no nginx.

Each is started once per test session (on SQLite in a temporary folder, or on
PostgreSQL for the tests that ask for it) and torn down at the end; tests keep
apart by using user names of their own.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from .helpers import (
    EXEMPT,
    PASSWORD,
    SECRET_KEY,
    TIMEOUT,
    User,
    missing_part,
    start_gunicorn,
    start_nginx,
    start_node,
    stop,
    tail,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class Node:
    url: str
    proc: subprocess.Popen[Any]
    log: Path

    def register(self, name: str, password: str = PASSWORD) -> None:
        r = requests.post(self.url + "/api/register", json={"username": name, "password": password}, timeout=TIMEOUT)
        assert r.status_code == 201, r.text

    def requests(self) -> list[dict[str, Any]]:
        """Every request the app has seen, in order: ``{"method", "target", "user"}``, where
        ``user`` is who the app took it to be from (its session, or X-Twofa-User), or None."""
        r = requests.get(self.url + "/__requests", timeout=TIMEOUT)
        return r.json()["requests"]

    def targets(self) -> list[str]:
        return [entry["target"] for entry in self.requests()]


@dataclass
class Stack:
    mode: str  # "nginx" (forward auth) or "proxy" (reverse proxy)
    backend: str  # "sqlite" or "postgres"
    url: str  # where clients talk: nginx, or the reverse proxy
    twofa_url: str
    node: Node
    logs: dict[str, Path] = field(default_factory=dict)

    def user(self, name: str, *, login: bool = True) -> User:
        """``name`` registered at the app and, by default, signed in through the front."""
        self.node.register(name)
        user = User(self.url, name)
        if login:
            user.login()
        return user

    def enrolled(self, name: str) -> User:
        """``name`` with 2FA on, signed in again with the password only: the second factor owed."""
        user = self.user(name)
        user.enrol()
        user.login()
        return user

    def diagnostics(self) -> str:
        return "\n".join(f"--- {what} ---\n{tail(path)}" for what, path in self.logs.items())


def _postgres_url() -> str:
    url = os.environ.get("TWOFA_TEST_DATABASE_URL") or DEFAULT_PG
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError:  # pragma: no cover
        missing_part("psycopg is not installed")
    u = make_url(url)
    try:
        psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                        dbname=u.database, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001
        missing_part(f"PostgreSQL at {u.host}:{u.port} does not answer: {exc}")
    return url


class _Postgres:
    """A database of its own on the test server, dropped at the end."""

    def __init__(self, url: str) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        self.u = make_url(url)
        self.name = f"twofa_e2e_{secrets.token_hex(4)}"
        self._psycopg = psycopg
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = self.u.set(database=self.name).render_as_string(hide_password=False)

    def _admin(self) -> Any:
        u = self.u
        return self._psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                                     dbname=u.database, autocommit=True, connect_timeout=5)

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir = tmp_path_factory.mktemp("node")
    proc, port, log = start_node(workdir)
    try:
        yield Node(f"http://127.0.0.1:{port}", proc, log)
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def stacks(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, str], Stack]]:
    """``stacks(mode, backend)``: the stack, started at its first use and kept for the session."""
    built: dict[tuple[str, str], Stack] = {}
    procs: list[subprocess.Popen[Any]] = []
    databases: list[_Postgres] = []

    def get(mode: str, backend: str = "sqlite") -> Stack:
        key = (mode, backend)
        if key in built:
            return built[key]
        workdir = tmp_path_factory.mktemp(f"{mode}-{backend}")
        if backend == "sqlite":
            db_url = f"sqlite:///{workdir}/twofa.db"
        else:
            database = _Postgres(_postgres_url())
            databases.append(database)
            db_url = database.url
        env = {
            "TWOFA_UPSTREAM": node.url,
            "TWOFA_SECRET_KEY": SECRET_KEY,
            "TWOFA_DATABASE_URL": db_url,
            "TWOFA_WHOAMI_PATH": "/api/me",
            "TWOFA_SESSION_COOKIE": "sid",
            "TWOFA_LOGIN_PATH": "/api/login",
            "TWOFA_ISSUER": "E2E",
            "TWOFA_EXEMPT_PATHS": " ".join(EXEMPT),
        }
        forward = mode == "nginx"
        app = "twofa_middleware.proxy:app_from_env(forward_auth=True)" if forward else (
            "twofa_middleware.proxy:app_from_env()"
        )
        proc, port, log = start_gunicorn(workdir, "gunicorn", app, env)
        procs.append(proc)
        twofa_url = f"http://127.0.0.1:{port}"
        logs = {"gunicorn": log, "node": node.log}
        if forward:
            nginx, nginx_port, nginx_log = start_nginx(workdir, port, int(node.url.rsplit(":", 1)[1]))
            procs.append(nginx)
            url = f"http://127.0.0.1:{nginx_port}"
            logs["nginx"] = nginx_log
        else:
            url = twofa_url
        built[key] = Stack(mode, backend, url, twofa_url, node, logs)
        return built[key]

    try:
        yield get
    finally:
        for proc in reversed(procs):
            stop(proc)
        for database in databases:
            database.drop()


@pytest.fixture(params=["nginx", "proxy"])
def stack(request: pytest.FixtureRequest, stacks: Callable[[str, str], Stack]) -> Stack:
    """Each of the two ways in front of the Node app, on SQLite."""
    return stacks(request.param, "sqlite")


@pytest.fixture
def nginx_stack(stacks: Callable[[str, str], Stack]) -> Stack:
    return stacks("nginx", "sqlite")


@pytest.fixture
def proxy_stack(stacks: Callable[[str, str], Stack]) -> Stack:
    return stacks("proxy", "sqlite")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, the tails of the servers' logs go into the report."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for name in ("stack", "nginx_stack", "proxy_stack"):
            stack = getattr(item, "funcargs", {}).get(name)
            if isinstance(stack, Stack):
                report.sections.append((f"{stack.mode} stack logs", stack.diagnostics()))

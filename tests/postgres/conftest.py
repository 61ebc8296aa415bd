"""Fixtures for the store on SQLite and PostgreSQL alike.

A test session creates a database of its own on the server named by
``TWOFA_TEST_DATABASE_URL`` (and drops it at the end), so parallel runs and
other users of that server never see each other's rows or connections. Inside
it every test gets a fresh schema (through ``search_path``); the few tests that
count server connections get a whole database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import missing_part
from twofa_middleware.store import SQLAlchemyStore

from .helpers import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    url = os.environ.get("TWOFA_TEST_DATABASE_URL")
    if not url:
        missing_part("PostgreSQL not configured: set TWOFA_TEST_DATABASE_URL")
    server = PostgresServer(url)  # type: ignore[arg-type]
    try:
        server.admin().close()
    except psycopg.OperationalError as exc:
        missing_part(f"PostgreSQL at TWOFA_TEST_DATABASE_URL is not reachable: {exc}")
    yield server
    server.drop_all()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty PostgreSQL schema for this test."""
    return postgres_server.new_schema()


@pytest.fixture
def pg_database_url(postgres_server: PostgresServer) -> str:
    """A fresh PostgreSQL database for this test alone (to count its connections)."""
    return postgres_server.new_database()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/twofa.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def make_store(db_url: str) -> Iterator[Callable[..., SQLAlchemyStore]]:
    """Stores on the test's database; each has its own engine, like a separate instance."""
    stores: list[SQLAlchemyStore] = []

    def make(**kwargs: Any) -> SQLAlchemyStore:
        store = SQLAlchemyStore(db_url, **kwargs)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.dispose()


@pytest.fixture
def store(make_store: Callable[..., SQLAlchemyStore]) -> SQLAlchemyStore:
    return make_store()

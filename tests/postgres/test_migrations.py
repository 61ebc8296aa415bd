"""Alembic migrations shipped in the package, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from twofa_middleware.cli import main as cli
from twofa_middleware.crypto import KeyRing
from twofa_middleware.store import SQLAlchemyStore, migrate
from twofa_middleware.store.models import Base

from .helpers import KEY, make_service


def differences(store: SQLAlchemyStore) -> list:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)


def test_migrations_at_head_make_exactly_the_models_schema(make_store):
    store = make_store(create_schema=False)
    store.upgrade_schema()
    assert migrate.current(store.engine) == migrate.head()
    assert differences(store) == []


def test_create_schema_runs_the_migrations(store):
    store.user_state("alice")  # first use creates the schema
    assert migrate.current(store.engine) == migrate.head()


def test_upgrade_from_the_first_revision_keeps_users_data(make_store):
    store = make_store(create_schema=False)
    store.upgrade_schema("0001")
    keyring = KeyRing(KEY)
    secret = pyotp.random_base32(32)
    code = "abcde23456"
    with store.engine.begin() as c:  # written as 0001 knew the tables, not through today's models
        c.execute(
            text(
                "INSERT INTO twofa_users (user_id, secret, enabled_at, last_step, failures, epoch)"
                " VALUES ('alice', :secret, '2026-01-01 00:00:00', 0, 0, 7)"
            ),
            {"secret": keyring.encrypt(secret)},
        )
        c.execute(
            text(
                "INSERT INTO twofa_recovery_codes (user_id, code_hash, code, created_at)"
                " VALUES ('alice', :hash, :code, '2026-01-01 00:00:00')"
            ),
            {"hash": keyring.mac("twofa.recovery", f"alice\0{code}"), "code": keyring.encrypt(code)},
        )
    store.upgrade_schema("head")
    assert differences(store) == []
    service = make_service(store)
    state = service.state("alice")
    assert state.enabled and state.epoch == 7 and state.recovery_codes_left == 1
    assert service.verify("alice", pyotp.TOTP(secret).now()) == "totp"
    assert service.verify("alice", "ABCDE-23456") == "recovery"


def test_schema_made_before_migrations_is_adopted(make_store, db_url):
    engine = create_engine(db_url)
    # The tables there were before migrations (revision 0001's); later ones come from migrations.
    before = ("twofa_users", "twofa_recovery_codes", "twofa_tokens", "twofa_security_log")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables[name] for name in before])
    with engine.begin() as c:
        c.execute(text("INSERT INTO twofa_users (user_id, last_step, failures, epoch) VALUES ('bob', 0, 0, 3)"))
    engine.dispose()
    store = make_store()
    assert store.user_state("bob").epoch == 3
    assert migrate.current(store.engine) == migrate.head()


def test_instances_starting_at_once_migrate_once(make_store):
    stores = [make_store() for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def start(store: SQLAlchemyStore) -> None:
        barrier.wait()
        try:
            store.user_state("alice")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a migration hung"
    assert errors == [], [repr(e.__cause__) for e in errors]
    assert migrate.current(stores[0].engine) == migrate.head()


def test_twofa_db_upgrade_creates_then_is_a_no_op(db_url):
    runner = CliRunner()
    first = runner.invoke(cli, ["--database-url", db_url, "db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert f"schema at revision {migrate.head()} (was empty)" in first.output
    again = runner.invoke(cli, ["--database-url", db_url, "db", "upgrade"])
    assert again.exit_code == 0 and again.output.strip() == f"schema at revision {migrate.head()}"
    store = SQLAlchemyStore(db_url, create_schema=False)
    try:
        assert differences(store) == []
    finally:
        store.dispose()


@pytest.mark.parametrize("revision", ["0001", "head"])
def test_migrations_downgrade_to_nothing(make_store, revision):
    from alembic import command

    store = make_store(create_schema=False)
    store.upgrade_schema(revision)
    with store.engine.begin() as connection:
        command.downgrade(migrate.config(connection), "base")
    with store.engine.connect() as connection:
        tables = set(connection.dialect.get_table_names(connection))
    assert tables <= {"alembic_version"}

"""Schema migrations: Alembic scripts shipped in the package, run without an ini file.

Several instances may start at once against one database; each migration run
holds a lock first (an advisory lock on PostgreSQL, the write lock on SQLite),
then reads the current revision, so only one of them changes the schema.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

# The revision whose schema is what ``Base.metadata.create_all`` made before
# migrations existed; such databases are stamped with it and upgraded from there.
BASELINE = "0001"
# The pg_advisory_xact_lock key for migrations: any constant unique to this package.
_PG_LOCK_KEY = 0x2F0A_6D69_6772_6174


def config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for the shipped scripts; pass a connection to run on it."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("twofa_middleware.store") / "migrations"))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision shipped with this version of the package."""
    return ScriptDirectory.from_config(config()).get_current_head() or ""


def current(engine: Engine) -> str | None:
    """The database's revision; None when it has no migrated schema."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create the schema or bring it up to ``revision``, in one transaction."""
    with engine.begin() as connection:  # on SQLite the store's engine begins IMMEDIATE
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        cfg = config(connection)
        tables = set(inspect(connection).get_table_names())
        if "twofa_users" in tables and "alembic_version" not in tables:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)

"""Alembic environment for the 2FA store's tables.

Run through :func:`twofa_middleware.store.migrate.upgrade` (``twofa db upgrade``),
which hands over a connection already inside the transaction and the lock that
keep two instances from migrating at once. Run by the ``alembic`` command
instead, it connects to ``sqlalchemy.url`` or ``TWOFA_DATABASE_URL``.
"""

from __future__ import annotations

import os
from typing import Any

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from twofa_middleware.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:  # forwarded to Alembic as they are
    context.configure(target_metadata=target_metadata, compare_type=True, **kwargs)


def _run(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
    else:
        url = config.get_main_option("sqlalchemy.url") or os.environ.get("TWOFA_DATABASE_URL", "sqlite:///twofa.db")
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                _run(connection)
        finally:
            engine.dispose()

"""A SQLite file runs in WAL mode at the durability the store was given (README "Performance")."""

from __future__ import annotations

from pathlib import Path

import pytest

from twofa_middleware.store import SQLAlchemyStore


def pragmas(store: SQLAlchemyStore) -> tuple[str, int]:
    with store.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
        level = conn.exec_driver_sql("PRAGMA synchronous").scalar_one()
    store.dispose()
    return mode, level


def test_a_file_is_in_wal_mode_and_every_commit_is_synced_by_default(tmp_path: Path) -> None:
    assert pragmas(SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db")) == ("wal", 2)  # 2: FULL


def test_normal_durability_is_a_choice(tmp_path: Path) -> None:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db", sqlite_synchronous="NORMAL")
    assert pragmas(store) == ("wal", 1)  # 1: NORMAL


def test_a_level_that_can_corrupt_the_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FULL, NORMAL"):
        SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db", sqlite_synchronous="OFF")
    assert not (tmp_path / "twofa.db").exists()


def test_an_in_memory_database_is_left_as_sqlite_makes_it() -> None:
    mode, _level = pragmas(SQLAlchemyStore("sqlite://"))
    assert mode == "memory"


def test_a_read_waits_for_no_writer_and_a_write_still_takes_the_lock(tmp_path: Path) -> None:
    """A cache miss on a user's state or a token reads while a verification holds the write lock."""
    import sqlite3
    import time

    from twofa_middleware.errors import StoreUnavailable
    from twofa_middleware.store.base import DISABLED

    path = tmp_path / "twofa.db"
    store = SQLAlchemyStore(f"sqlite:///{path}")
    store.create_schema()
    store.engine.pool.dispose()
    writer = sqlite3.connect(path, isolation_level=None, timeout=0.1)
    writer.execute("BEGIN IMMEDIATE")  # another process, mid-verification
    try:
        started = time.monotonic()
        assert store.user_state("nobody") == DISABLED
        assert store.token_by_hash("0" * 64) is None
        assert store.trusted_browser(1) is None
        assert time.monotonic() - started < 5  # the busy timeout is 30 s: no read waited for it
        store.engine.dispose()
        quick = SQLAlchemyStore(f"sqlite:///{path}", create_schema=False,
                                connect_args={"check_same_thread": False, "timeout": 0.2})
        with pytest.raises(StoreUnavailable):
            quick.disable("nobody", time.time())  # a write waits for the lock, then fails closed
        quick.dispose()
    finally:
        writer.rollback()
        writer.close()
        store.dispose()

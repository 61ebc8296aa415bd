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

"""What a told change drops (invalidation.py), without a database: the PostgreSQL side is in tests/postgres."""

from __future__ import annotations

from typing import Any

import pytest

from twofa_middleware.invalidation import EVERYTHING, MAX_PAYLOAD, ChangeFeed, dispatch, token_change, user_change


class Caches:
    def __init__(self) -> None:
        self.dropped: list[object] = []

    def drop_user(self, user_id: str) -> None:
        self.dropped.append(("user", user_id))

    def drop_token(self, token_id: int) -> None:
        self.dropped.append(("token", token_id))

    def forget_cached(self) -> None:
        self.dropped.append("everything")


@pytest.mark.parametrize("change, dropped", [
    (user_change("alice:with a colon"), ("user", "alice:with a colon")),
    (token_change(42), ("token", 42)),
    (EVERYTHING, "everything"),
    # Anything not understood (a newer version's message, a stray NOTIFY): everything, the safe answer.
    ("t:not-a-number", "everything"),
    ("t:\u00b2", "everything"),  # a digit to str.isdigit, not to int(): it dropped nothing
    ("u:", "everything"),
    ("x:alice", "everything"),
    ("", "everything"),
])
def test_each_change_drops_what_it_names(change, dropped):
    caches = Caches()
    dispatch(caches, change)
    assert caches.dropped == [dropped]


class _Engine:
    """Records what would be sent to PostgreSQL."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def connect(self) -> _Engine:
        return self

    def execution_options(self, **options: Any) -> _Engine:
        assert options == {"isolation_level": "AUTOCOMMIT"}  # one round trip, outside any write's transaction
        return self

    def __enter__(self) -> _Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, statement: Any, params: dict[str, Any]) -> None:
        assert "pg_notify" in str(statement)
        self.sent.append(params)


def test_a_change_too_long_to_tell_is_told_as_everything():
    engine = _Engine()
    feed = ChangeFeed(engine)  # type: ignore[arg-type]
    feed.announce(user_change("a" * MAX_PAYLOAD))
    feed.announce(user_change("bob"))
    assert engine.sent == [{"change": EVERYTHING}, {"change": "u:bob"}]

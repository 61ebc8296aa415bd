"""Unit fixtures: no server, an in-memory store and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

KEY = "unit-test-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
# A time in the middle of a 30-second step, so step arithmetic is unambiguous.
T0 = 1_700_000_015.0


class Clock:
    """Seconds since the epoch, moved by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> Iterator[SQLAlchemyStore]:
    s = SQLAlchemyStore("sqlite://")
    yield s
    s.dispose()


@pytest.fixture
def service(store: SQLAlchemyStore, clock: Clock) -> TwoFactorService:
    return TwoFactorService(
        Settings(issuer="Unit", cache_seconds=0),
        KeyRing(KEY),
        store,
        lambda user_id, password: password == PASSWORD,
        clock=clock,
    )

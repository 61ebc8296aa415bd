"""Unit fixtures: no server, an in-memory store and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock

from .helpers import KEY, PASSWORD, T0


@pytest.fixture
def clock() -> FixedClock:
    """Seconds since the epoch, moved by hand."""
    return FixedClock(T0)


@pytest.fixture
def store() -> Iterator[SQLAlchemyStore]:
    s = SQLAlchemyStore("sqlite://")
    yield s
    s.dispose()


@pytest.fixture
def service(store: SQLAlchemyStore, clock: FixedClock) -> TwoFactorService:
    return TwoFactorService(
        Settings(issuer="Unit", cache_seconds=0),
        KeyRing(KEY),
        store,
        lambda user_id, password: password == PASSWORD,
        clock=clock,
    )

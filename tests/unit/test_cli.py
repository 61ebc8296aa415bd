"""``twofa status``: a user's 2FA state as an operator helping them sees it."""

from __future__ import annotations

import pyotp
import pytest
from click.testing import CliRunner

from twofa_middleware.cli import main
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidCode
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock
from twofa_middleware.times import rfc3339

from .helpers import KEY, T0


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def status(db_url: str, user: str) -> list[str]:
    result = CliRunner().invoke(main, ["--database-url", db_url, "status", user])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_status_of_a_user_without_2fa(db_url):
    assert status(db_url, "bob") == ["user: bob", "enabled: no"]


def test_status_counts_wrong_codes_and_shows_the_lock_in_rfc3339(db_url):
    clock = FixedClock(T0)
    service = TwoFactorService(Settings(lockout_threshold=2), KeyRing(KEY), SQLAlchemyStore(db_url),
                               lambda user_id, password: False, clock=clock)
    try:
        totp = pyotp.TOTP(service.enrollment("alice").secret)
        service.confirm_enrollment("alice", totp.at(clock()))
        wrong = f"{(int(totp.at(clock())) + 500_000) % 1_000_000:06d}"
        for _ in range(2):  # the second locks
            with pytest.raises(InvalidCode):
                service.verify("alice", wrong)
        assert service.store.failures("alice") == 2 and service.store.failures("nobody") == 0
        locked_until = service.state("alice").locked_until
        assert locked_until is not None
    finally:
        service.store.dispose()
    assert status(db_url, "alice") == [
        "user: alice", "enabled: yes", "recovery codes left: 10", "wrong codes in a row: 2",
        f"locked until: {rfc3339(locked_until)}",
    ]

"""``twofa status``: a user's 2FA state as an operator helping them sees it."""

from __future__ import annotations

import pyotp
import pytest
from click.testing import CliRunner, Result

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


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", db_url, *args])


def test_status_of_a_user_without_2fa(db_url):
    assert run(db_url, "db", "create").exit_code == 0
    assert status(db_url, "bob") == ["user: bob", "enabled: no"]


@pytest.mark.parametrize("command", [["status", "alice"], ["log"], ["unlock", "alice"], ["reset", "--yes", "alice"]])
def test_a_read_command_in_the_wrong_folder_says_so_and_creates_no_database(tmp_path, command):
    """It used to create an empty twofa.db and report "enabled: no" for anyone."""
    missing = tmp_path / "twofa.db"
    result = run(f"sqlite:///{missing}", *command)
    assert result.exit_code == 2
    assert f"no 2FA database at {missing}" in result.output
    assert not missing.exists()


def test_an_unreachable_database_is_one_clear_line_and_exit_code_2():
    result = run("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=1", "status", "alice")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot be reached" in lines[0]
    assert "secret" not in result.output and "Traceback" not in result.output


def test_status_and_log_speak_json_for_scripts(db_url):
    import json

    assert run(db_url, "db", "create").exit_code == 0
    assert json.loads(run(db_url, "status", "bob", "--json").output) == {"user": "bob", "enabled": False}
    assert json.loads(run(db_url, "log", "--json").output) == []


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
        f"locked until: {rfc3339(locked_until)}", "authenticators:",
        "  1  totp      Authenticator app  (last used never)",
    ]


def test_unlock_ends_a_lockout_and_is_logged(db_url):
    clock = FixedClock(T0)
    service = TwoFactorService(Settings(lockout_threshold=2), KeyRing(KEY), SQLAlchemyStore(db_url),
                               lambda user_id, password: False, clock=clock)
    try:
        totp = pyotp.TOTP(service.enrollment("alice").secret)
        service.confirm_enrollment("alice", totp.at(clock()))
        wrong = f"{(int(totp.at(clock())) + 500_000) % 1_000_000:06d}"
        for _ in range(2):
            with pytest.raises(InvalidCode):
                service.verify("alice", wrong)
    finally:
        service.store.dispose()
    result = run(db_url, "unlock", "alice")
    assert result.exit_code == 0 and "lockout ended for alice" in result.output
    assert "wrong codes in a row: 0" in status(db_url, "alice")
    assert "locked until: -" in status(db_url, "alice")
    again = run(db_url, "unlock", "alice")
    assert again.exit_code == 1 and "not locked" in again.output
    store = SQLAlchemyStore(db_url)
    try:
        assert [e.event for e in store.events("alice", 1)] == ["unlocked"]
    finally:
        store.dispose()

"""``TwoFactorService.import_totp``: 2FA on with a secret the user already has, once."""

from __future__ import annotations

import pyotp
import pytest

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import CodeReused, InvalidRequest
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock

from .helpers import KEY

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_import_turns_2fa_on_with_fresh_codes_logs_and_notifies(store, clock):
    heard: list[tuple[str, str]] = []
    service = TwoFactorService(Settings(cache_seconds=0), KeyRing(KEY), store, lambda u, p: False,
                               notify=lambda user_id, event: heard.append((user_id, event)), clock=clock)
    assert service.import_totp("alice", "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp", "Old Site", ip="10.0.0.1") \
        == "imported"
    assert heard == [("alice", "imported")]
    (event,) = service.store.events("alice")
    assert (event.event, event.detail, event.remote_addr) == ("imported", "Old Site", "10.0.0.1")
    assert len(service.recovery_codes("alice")) == 10
    assert service.verify("alice", pyotp.TOTP(SECRET).at(clock())) == "totp"


def test_the_last_step_of_the_old_system_is_the_replay_guard(service, clock):
    step = int(clock()) // 30
    service.import_totp("alice", SECRET, "phone", last_step=step)
    with pytest.raises(CodeReused):
        service.verify("alice", pyotp.TOTP(SECRET).at(clock()))
    assert service.verify("alice", pyotp.TOTP(SECRET).at(clock() + 30)) == "totp"


def test_the_same_secret_again_writes_nothing_and_another_joins_the_list(service):
    service.import_totp("alice", SECRET, "phone")
    before = service.store.events("alice")
    assert service.import_totp("alice", SECRET.lower() + "====", "phone") == "already imported"
    assert service.store.events("alice") == before
    assert service.import_totp("alice", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "tablet") == "imported"
    assert [a.name for a in service.authenticators("alice")] == ["phone", "tablet"]


def test_a_user_who_enrolled_here_is_already_imported_with_that_secret(service, clock):
    secret = service.enrollment("bob").secret
    service.confirm_enrollment("bob", pyotp.TOTP(secret).at(clock()))
    assert service.import_totp("bob", secret, "phone") == "already imported"
    assert len(service.authenticators("bob")) == 1


@pytest.mark.parametrize(
    "user_id, secret, name",
    [
        pytest.param("alice", "JBSWY3DP", "phone", id="short-secret"),
        pytest.param("alice", "not base32!", "phone", id="bad-secret"),
        pytest.param("al\x00ice", SECRET, "phone", id="bad-user"),
        pytest.param("alice", SECRET, "ph\x07one", id="bad-name"),
    ],
)
def test_bad_input_is_refused_before_anything_is_stored(service, user_id, secret, name):
    with pytest.raises(InvalidRequest) as refused:
        service.import_totp(user_id, secret, name)
    assert SECRET not in refused.value.message
    assert not service.state("alice").enabled and service.store.events() == []


def test_an_import_under_an_old_key_is_still_recognised_after_a_rotation(tmp_path):
    url = f"sqlite:///{tmp_path}/rot.db"
    old = TwoFactorService(Settings(cache_seconds=0), KeyRing(KEY), SQLAlchemyStore(url), lambda u, p: False,
                           clock=FixedClock())
    new = TwoFactorService(Settings(cache_seconds=0), KeyRing(["a-newer-key-0123456789abcdef", KEY]),
                           SQLAlchemyStore(url), lambda u, p: False, clock=FixedClock())
    try:
        assert old.import_totp("alice", SECRET, "phone") == "imported"
        assert new.import_totp("alice", SECRET, "phone") == "already imported"
    finally:
        old.store.dispose()
        new.store.dispose()

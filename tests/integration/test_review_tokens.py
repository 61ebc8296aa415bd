"""Tokens made with the password alone do not outlive turning 2FA on (found by the attacker's review).

Over the real loopback server: a token made while the user had no second factor
works, then 2FA is turned on through each path (the JSON API, the setup page, a
first security key, an import) and the same token gets 401 at once, even though this
process had it cached. The user is told how many; the security log has the row.
"""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest

from tests.helpers import csrf_of, manual_key_of
from tests.unit.test_security_keys import SoftKey
from twofa_middleware.errors import TooManyAuthenticators
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import NewAuthenticator
from twofa_middleware.testing import FixedClock

from .api_support import MOUNT, PASSWORD, ApiClient, Authenticator, bearer, use_clock
from .security_key_support import add_key, localhost

TOKEN = re.compile(r"tfa_[0-9A-Za-z]{49}")


@pytest.fixture
def clock(live_app: Any) -> FixedClock:
    return use_clock(live_app)  # frozen: a cached token stays cached unless something drops it


def without_2fa(live_app: Any, user: str = "alice") -> tuple[ApiClient, list[str]]:
    """A user with no second factor, password confirmed, with two working tokens (used once, so cached)."""
    c = ApiClient(localhost(live_app.url))
    c.register(user)
    c.sudo()
    made = [c.create_token("made with the password alone")[1], c.create_token("another")[1]]
    for token in made:
        assert bearer(live_app.url, token, "/api/me").status_code == 200
    return c, made


def refused(live_app: Any, token: str) -> bool:
    r = bearer(live_app.url, token, "/api/me")
    return r.status_code == 401 and r.json()["error"] == "invalid_token"


def log_rows(live_app: Any, user: str = "alice") -> list[tuple[str, str]]:
    return [(e.event, e.detail) for e in reversed(live_app.middleware.service.store.events(user))]


def enable_by_api(live_app: Any, c: ApiClient, clock: FixedClock) -> int:
    enroll = c.post("/enroll")
    assert enroll.status_code == 200 and enroll.json()["tokens_revoked"] == 2  # said before
    confirmed = c.post("/enroll/confirm", {"code": Authenticator(enroll.json()["secret"], clock).code()})
    assert confirmed.status_code == 200, confirmed.text
    return int(confirmed.json()["tokens_revoked"])  # and after


def enable_by_page(live_app: Any, c: ApiClient, clock: FixedClock) -> int:
    html = {"Accept": "text/html"}
    setup = c.http.get(c.base_url + f"{MOUNT}/setup", headers=html)
    assert setup.status_code == 200
    assert "Turning on two-factor authentication revokes your 2 personal access tokens" in setup.text
    code = pyotp.TOTP(manual_key_of(setup.text)).at(clock())
    codes = c.http.post(c.base_url + f"{MOUNT}/setup", headers=html,
                        data={"csrf_token": csrf_of(setup.text), "code": code})
    assert codes.status_code == 200 and "Save your recovery codes" in codes.text, codes.text
    found = re.search(r'id="tokens-revoked">(\d+) personal access tokens were revoked', codes.text)
    assert found, codes.text
    return int(found.group(1))


def enable_by_security_key(live_app: Any, c: ApiClient, clock: FixedClock) -> int:
    added = add_key(c, SoftKey())
    assert added.status_code == 201, added.text
    assert "revoked=2" in added.json()["next"]  # the recovery codes page says it too
    return int(added.json()["tokens_revoked"])


def enable_by_import(live_app: Any, c: ApiClient, clock: FixedClock) -> int:
    service = live_app.middleware.service
    assert service.import_totp("alice", pyotp.random_base32(), "Old phone") == "imported"
    return 2  # the import answers no count: the security log row below has it


@pytest.mark.parametrize("enable", [
    pytest.param(enable_by_api, id="api-enroll-confirm"),
    pytest.param(enable_by_page, id="setup-page"),
    pytest.param(enable_by_security_key, id="first-security-key"),
    pytest.param(enable_by_import, id="import"),
])
def test_a_token_made_before_2fa_is_refused_once_2fa_is_on(live_app: Any, clock: FixedClock, enable: Any) -> None:
    c, made = without_2fa(live_app)
    assert enable(live_app, c, clock) == 2
    assert all(refused(live_app, token) for token in made)  # at once: this process's cache dropped them
    assert ("tokens_revoked", "2: 2FA turned on") in log_rows(live_app)
    assert live_app.middleware.service.store.tokens("alice") == []  # none left to list


def test_tokens_made_with_the_second_factor_survive_one_more_authenticator(live_app: Any, clock: FixedClock) -> None:
    c = ApiClient(localhost(live_app.url))
    c.register("alice")
    phone, _ = c.enable(clock)
    c.sudo()
    _, token = c.create_token("made after the second factor")
    enroll = c.post("/enroll")
    assert enroll.json()["tokens_revoked"] == 0
    tablet = Authenticator(enroll.json()["secret"], clock)
    tablet.last_step = phone.last_step
    confirmed = c.post("/enroll/confirm", {"code": tablet.code(), "name": "Tablet"})
    assert (confirmed.status_code, confirmed.json()["tokens_revoked"]) == (200, 0)
    assert bearer(live_app.url, token, "/api/me").status_code == 200
    assert "tokens_revoked" not in [event for event, _ in log_rows(live_app)]


def test_a_token_asked_for_under_a_state_another_instance_changed_is_409_and_stores_nothing(
    live_app: Any, clock: FixedClock
) -> None:
    """The check and the write race: this instance still caches "no 2FA" (SQLite tells it
    nothing) while another one turns 2FA on. The token page and API are refused."""
    c = ApiClient(localhost(live_app.url))
    c.register("alice")
    c.sudo()
    assert c.get("/status").json()["enabled"] is False  # cached here, for cache_seconds of a frozen clock
    mw = live_app.middleware
    other = TwoFactorService(mw.settings, mw.service.keyring, SQLAlchemyStore(live_app.db_url), lambda u, p: True,
                             clock=clock)
    try:
        other.confirm_enrollment("alice", pyotp.TOTP(other.enrollment("alice").secret).at(clock()))
    finally:
        other.store.dispose()
    r = c.post("/tokens", {"name": "late"})
    assert (r.status_code, r.json()["error"]) == (409, "two_factor_changed")
    page = c.http.get(c.base_url + f"{MOUNT}/tokens", headers={"Accept": "text/html"})
    r = c.http.post(c.base_url + f"{MOUNT}/tokens", headers={"Accept": "text/html"},
                    data={"csrf_token": csrf_of(page.text), "name": "late too", "password": PASSWORD})
    assert r.status_code == 409 and "changed meanwhile, so nothing was created" in r.text
    assert not TOKEN.search(r.text)
    assert mw.service.store.tokens("alice") == []


def test_one_authenticator_more_than_max_authenticators_is_409_and_stores_nothing(
    live_app: Any, clock: FixedClock
) -> None:
    c = ApiClient(localhost(live_app.url))
    c.register("alice")
    c.enable(clock)
    store = live_app.middleware.service.store
    limit = live_app.middleware.settings.max_authenticators
    assert limit == 20  # the default
    for i in range(limit - 1):
        store.add_authenticator("alice", NewAuthenticator("webauthn", f"Key {i}", credential_id=f"cred-{i}",
                                                          public_key="pk"), 0, [], clock())
    c.sudo()
    for path, body in (("/enroll", None), ("/enroll/confirm", {"code": "123456"}),
                       ("/security-keys/register/begin", None)):
        r = c.post(path, body)
        assert (r.status_code, r.json()["error"]) == (409, "too_many_authenticators"), path
        assert "(20)" in r.json()["message"]
    page = c.http.get(c.base_url + f"{MOUNT}/setup", headers={"Accept": "text/html"})
    assert page.status_code == 409 and "You have the most authenticators an account may have (20)" in page.text
    assert 'id="manual-key"' not in page.text  # no setup was started
    assert store.pending_secret("alice", 0) is None
    assert store.take_challenge("alice", clock()) is None  # no ceremony was kept
    with pytest.raises(TooManyAuthenticators):
        live_app.middleware.service.import_totp("alice", pyotp.random_base32(), "One too many")
    assert len(store.authenticators("alice")) == limit

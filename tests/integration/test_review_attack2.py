"""The attacker's second review: turning 2FA on against tokens, and remembered token passes.

Over the real loopback server (the Flask example, SQLite), with ``cache_seconds`` at
its longest (60 s) and a frozen clock, so that only what the middleware drops itself
stands between a token and a stale pass.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest

from tests.helpers import LiveApp
from twofa_middleware.store.base import NewAuthenticator
from twofa_middleware.testing import FixedClock

from .api_support import ApiClient, Authenticator, bearer, example_with_longest_cache, use_clock


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    with example_with_longest_cache(tmp_path) as app:
        yield app


@pytest.fixture
def clock(live: LiveApp) -> FixedClock:
    return use_clock(live)


def test_turning_2fa_on_ends_a_remembered_token_pass_on_this_instance(live, clock):
    """A token made with the password alone, used (so cached and remembered), must get 401
    the moment 2FA is on: the user is told so, with the recovery codes."""
    c = ApiClient(live.url, validate=False)  # the answer is asserted below, after the token
    c.register("alice")
    c.sudo()
    _, token = c.create_token("made with the password alone")
    for _ in range(3):
        assert bearer(live.url, token, "/api/me").status_code == 200
    enroll = c.post("/enroll")
    assert enroll.status_code == 200 and enroll.json()["tokens_revoked"] == 1
    confirmed = c.post("/enroll/confirm", {"code": Authenticator(enroll.json()["secret"], clock).code()})
    r = bearer(live.url, token, "/api/me")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token", "the token outlived turning 2FA on"
    assert confirmed.status_code == 200, confirmed.text[:300]
    assert confirmed.json()["tokens_revoked"] == 1 and len(confirmed.json()["recovery_codes"]) > 0
    events = [e.event for e in live.middleware.service.store.events("alice")]
    assert "enabled" in events and "tokens_revoked" in events


@pytest.mark.parametrize("raw", [b"tfa_\xe9", "tfa_\u00e9t\u00e9".encode(), b"tfa_" + b"\xff" * 49])
def test_a_token_that_is_not_ascii_is_a_401_not_a_server_error(live, raw):
    """The remembered-pass lookup hashes the token before any format check: a header
    byte above 0x7f (latin-1 in WSGI) must be refused as not ours, as the full path does."""
    parts = urlsplit(live.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("GET", "/api/me")
        conn.putheader("Authorization", b"Bearer " + raw)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    assert response.status == 401, body[:200]
    assert json.loads(body)["error"] == "invalid_token"


def test_a_stale_2fa_off_here_cannot_add_an_authenticator_with_the_password_alone(live, clock):
    """The race the token epoch check closes, on the authenticator it leaves open: another
    instance (SQLite workers, or PostgreSQL before its notification lands, or with
    instant invalidation off) turned 2FA on; this one still has "off" cached. Someone with
    the password alone must not add their own app as one more factor (a lasting bypass):
    409 two_factor_changed, nothing stored, and a sign-in still owes the user's code."""
    c = ApiClient(live.url, validate=False)
    c.register("alice")
    c.sudo()
    assert c.me().status_code == 200  # this instance caches alice's state: 2FA off
    service = live.middleware.service
    phone = NewAuthenticator("totp", "Phone", secret=service.keyring.encrypt(pyotp.random_base32()))
    service.store.add_authenticator("alice", phone, 0, [("h", "e")], clock())  # the other instance

    enroll = c.post("/enroll")  # the attacker's own app, with alice's password
    assert enroll.status_code == 200, enroll.text
    confirmed = c.post("/enroll/confirm", {"code": Authenticator(enroll.json()["secret"], clock).code()})
    assert [a.name for a in service.store.authenticators("alice")] == ["Phone"], "a factor added without 2FA"
    assert (confirmed.status_code, confirmed.json()["error"]) == (409, "two_factor_changed")

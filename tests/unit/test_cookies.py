"""cookies: signed verified/sudo cookies bound to one sign-in, CSRF tokens, headers."""

from __future__ import annotations

import pytest

from twofa_middleware.config import Settings
from twofa_middleware.cookies import Cookies, read_cookie
from twofa_middleware.crypto import KeyRing
from twofa_middleware.identity import Identity

from .helpers import signed_long_ago

OLD = "old-secret-key-0123456789abcdef"
NEW = "new-secret-key-0123456789abcdef"
ALICE = Identity("alice", "nonce-1")


def cookies(keys=NEW, **settings) -> Cookies:
    return Cookies(Settings(**settings), KeyRing(keys))


def environ_with(name: str, value: str) -> dict:
    return {"HTTP_COOKIE": f"other=1; {name}={value}"}


def flip_signature_char(value: str) -> str:
    """Change a character in the middle of the signature (the very last base64
    character may only carry padding bits, so changing it can be a no-op)."""
    i = len(value) - 10
    return value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]


# -- verified ----------------------------------------------------------------


def test_verified_cookie_is_accepted_for_same_user_sign_in_and_epoch():
    c = cookies()
    value = c.verified_value(ALICE, 1)
    assert c.is_verified(environ_with(c.verified_name, value), ALICE, 1)


@pytest.mark.parametrize(
    "identity, epoch",
    [
        pytest.param(Identity("bob", "nonce-1"), 1, id="another-user"),
        pytest.param(Identity("alice", "nonce-2"), 1, id="earlier-sign-in"),
        pytest.param(ALICE, 2, id="2fa-re-enrolled-since"),
    ],
)
def test_verified_cookie_is_refused_outside_its_sign_in(identity, epoch):
    c = cookies()
    value = c.verified_value(ALICE, 1)
    assert not c.is_verified(environ_with(c.verified_name, value), identity, epoch)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(flip_signature_char, id="signature-flipped"),
        pytest.param(lambda v: v.split(".")[0] + ".x.y", id="signature-replaced"),
        pytest.param(lambda v: "", id="empty"),
        pytest.param(lambda v: "garbage", id="garbage"),
    ],
)
def test_tampered_verified_cookie_is_refused(mangle):
    c = cookies()
    value = mangle(c.verified_value(ALICE, 1))
    assert not c.is_verified(environ_with(c.verified_name, value), ALICE, 1)
    assert c.load_verified(value) is None


def test_verified_cookie_signed_under_another_salt_is_refused():
    c = cookies()
    sudo = c.sudo_value(ALICE)
    assert c.load_verified(sudo) is None


def test_verified_cookie_past_max_age_is_refused():
    c = cookies(verified_max_age=3600)
    from twofa_middleware.cookies import session_hash

    value = signed_long_ago(c.keyring.signing_keys(), "twofa.verified", ["alice", session_hash(ALICE), 1], 3601)
    assert c.load_verified(value) is None
    assert not c.is_verified(environ_with(c.verified_name, value), ALICE, 1)


def test_verified_cookie_from_another_secret_key_is_refused():
    value = cookies(OLD).verified_value(ALICE, 1)
    c = cookies(NEW)
    assert not c.is_verified(environ_with(c.verified_name, value), ALICE, 1)


def test_verified_cookie_survives_key_rotation():
    value = cookies(OLD).verified_value(ALICE, 1)
    c = cookies([NEW, OLD])
    assert c.is_verified(environ_with(c.verified_name, value), ALICE, 1)


# -- sudo --------------------------------------------------------------------


def test_sudo_cookie_is_valid_for_its_sign_in():
    c = cookies()
    assert c.sudo_valid(c.sudo_value(ALICE), ALICE)


@pytest.mark.parametrize(
    "value_of, identity",
    [
        pytest.param(lambda c: c.sudo_value(ALICE), Identity("bob", "nonce-1"), id="another-user"),
        pytest.param(lambda c: c.sudo_value(ALICE), Identity("alice", "nonce-2"), id="new-sign-in"),
        pytest.param(lambda c: flip_signature_char(c.sudo_value(ALICE)), ALICE, id="tampered"),
        pytest.param(lambda c: c.verified_value(ALICE, 1), ALICE, id="wrong-salt-verified-cookie"),
        pytest.param(lambda c: None, ALICE, id="missing"),
        pytest.param(lambda c: "", ALICE, id="empty"),
    ],
)
def test_sudo_cookie_is_refused(value_of, identity):
    c = cookies()
    assert not c.sudo_valid(value_of(c), identity)


def test_sudo_expires_after_sudo_seconds():
    c = cookies(sudo_seconds=300)
    from twofa_middleware.cookies import session_hash

    fresh = signed_long_ago(c.keyring.signing_keys(), "twofa.sudo", ["alice", session_hash(ALICE)], 290)
    stale = signed_long_ago(c.keyring.signing_keys(), "twofa.sudo", ["alice", session_hash(ALICE)], 301)
    assert c.sudo_valid(fresh, ALICE)
    assert not c.sudo_valid(stale, ALICE)


# -- CSRF ----------------------------------------------------------------------


def test_csrf_token_is_valid_for_its_sign_in():
    c = cookies()
    assert c.csrf_valid(c.csrf_token(ALICE), ALICE)


@pytest.mark.parametrize(
    "token_of, identity",
    [
        pytest.param(lambda c: c.csrf_token(ALICE), Identity("alice", "nonce-2"), id="earlier-sign-in"),
        pytest.param(lambda c: c.csrf_token(ALICE), Identity("bob", "nonce-1"), id="another-user"),
        pytest.param(lambda c: flip_signature_char(c.csrf_token(ALICE)), ALICE, id="one-char-changed"),
        pytest.param(lambda c: c.csrf_token(ALICE)[:-1], ALICE, id="truncated"),
        pytest.param(lambda c: "", ALICE, id="empty"),
        pytest.param(lambda c: None, ALICE, id="missing"),
        pytest.param(lambda c: ["x"], ALICE, id="not-a-string"),
        pytest.param(lambda c: "é" * 64, ALICE, id="non-ascii"),
    ],
)
def test_csrf_token_is_refused(token_of, identity):
    c = cookies()
    assert not c.csrf_valid(token_of(c), identity)


def test_csrf_token_from_before_rotation_is_still_valid():
    token = cookies(OLD).csrf_token(ALICE)
    assert cookies([NEW, OLD]).csrf_valid(token, ALICE)
    assert not cookies(NEW).csrf_valid(token, ALICE)


def test_csrf_token_after_rotation_is_made_with_newest_key():
    assert cookies([NEW, OLD]).csrf_token(ALICE) == cookies(NEW).csrf_token(ALICE)


# -- headers and parsing ---------------------------------------------------------


@pytest.mark.parametrize(
    "https, cookie_secure, secure",
    [
        pytest.param(False, None, False, id="http"),
        pytest.param(True, None, True, id="https"),
        pytest.param(False, True, True, id="configured-secure"),
    ],
)
def test_set_cookie_is_httponly_samesite_lax_and_secure_on_https(https, cookie_secure, secure):
    c = cookies(cookie_secure=cookie_secure)
    name, value = c.header("twofa_verified", "v", secure=https, max_age=60)
    assert name == "Set-Cookie"
    assert "HttpOnly" in value
    assert "SameSite=Lax" in value
    assert ("Secure" in value) is secure


@pytest.mark.parametrize(
    "header, value",
    [
        pytest.param("twofa_verified=abc", "abc", id="only"),
        pytest.param("a=1; twofa_verified=abc; b=2", "abc", id="middle"),
        pytest.param('twofa_verified="abc"', "abc", id="quoted"),
        pytest.param("xtwofa_verified=abc", None, id="longer-name-not-matched"),
        pytest.param("a=1", None, id="absent"),
        pytest.param("", None, id="no-header"),
    ],
)
def test_read_cookie(header, value):
    assert read_cookie({"HTTP_COOKIE": header}, "twofa_verified") == value

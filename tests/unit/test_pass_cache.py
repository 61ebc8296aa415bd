"""Remembered pass decisions: fast, and never a way around the second factor."""

from __future__ import annotations

import time

import pyotp
import pytest

from twofa_middleware import TwoFactorMiddleware
from twofa_middleware.identity import CookieKeyedIdentify, Identity, TwoFactorInfo
from twofa_middleware.pass_cache import MAX_KEY, PassCache
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import UserState

from .helpers import KEY

ENABLED = UserState(enabled=True, epoch=1, recovery_codes_left=10)
INFO = TwoFactorInfo("alice", True, True, {})


def make(cache_seconds: float = 5.0):
    calls = []

    def identify(environ):
        calls.append(1)
        return Identity("alice", "s1", time.time() + 3600) if "sid=alice" in environ.get("HTTP_COOKIE", "") else None

    seen = []

    def app(environ, start_response):
        seen.append(environ["twofa"])
        start_response("200 OK", [])
        return [b"ok"]

    store = SQLAlchemyStore("sqlite://")
    mw = TwoFactorMiddleware(app, secret_key=KEY, store=store, identify=CookieKeyedIdentify(identify),
                             check_password=lambda u, p: True, cache_seconds=cache_seconds)
    return mw, calls, seen


def get(mw, cookie):
    status = []
    environ = {"PATH_INFO": "/", "REQUEST_METHOD": "GET", "HTTP_COOKIE": cookie, "HTTP_ACCEPT": "text/html",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    b"".join(mw(environ, lambda s, h, e=None: status.append(s)))
    return status[0]


def enable(mw) -> None:
    secret = mw.service.enrollment("alice").secret
    mw.service.confirm_enrollment("alice", pyotp.TOTP(secret).now())


def verified_cookie(mw) -> str:
    value = mw.cookies.verified_value(Identity("alice", "s1"), mw.service.state("alice").epoch)
    return f"sid=alice; {mw.cookies.verified_name}={value}"


def test_a_verified_browser_is_answered_from_the_decision():
    mw, calls, seen = make()
    enable(mw)
    cookie = verified_cookie(mw)
    assert get(mw, cookie).startswith("200") and get(mw, cookie).startswith("200")
    assert len(calls) == 1
    assert seen[0] is seen[1] and seen[1].verified


def test_a_write_through_this_process_ends_the_decision_at_once():
    mw, _, seen = make()
    enable(mw)
    cookie = verified_cookie(mw)
    assert get(mw, cookie).startswith("200")
    mw.service.disable("alice")
    assert get(mw, cookie).startswith("200") and seen[-1].enabled is False
    enable(mw)  # a new enrollment: the old verified cookie is worthless
    assert get(mw, cookie).startswith("303")


def test_nothing_is_remembered_with_no_cache_time():
    mw, calls, _ = make(cache_seconds=0)
    enable(mw)
    cookie = verified_cookie(mw)
    get(mw, cookie)
    get(mw, cookie)
    assert len(calls) == 2 and len(mw.passes) == 0


def test_an_unverified_browser_is_never_remembered():
    mw, _, _ = make()
    enable(mw)
    assert get(mw, "sid=alice").startswith("303")
    assert get(mw, "sid=alice").startswith("303")
    assert len(mw.passes) == 0


@pytest.mark.parametrize(
    "until, expires_at",
    [pytest.param(0.5, None, id="verified-cookie-expires"), pytest.param(None, 0.5, id="session-expires")],
)
def test_an_entry_never_outlives_the_signed_values(until, expires_at):
    passes = PassCache(5.0, lambda user_id: ENABLED)
    now = time.time()
    identity = Identity("alice", "s1", None if expires_at is None else now + expires_at)
    passes.remember("c", identity, ENABLED, INFO, None if until is None else now + until)
    assert passes.get("c") is INFO
    time.sleep(0.7)
    assert passes.get("c") is None


def test_a_changed_state_from_another_instance_ends_the_decision():
    current = {"state": ENABLED}
    passes = PassCache(5.0, lambda user_id: current["state"])
    passes.remember("c", Identity("alice", "s1"), ENABLED, INFO)
    current["state"] = UserState(enabled=True, epoch=1, recovery_codes_left=10)  # equal: still good
    assert passes.get("c") is INFO
    current["state"] = UserState(enabled=True, epoch=2)
    assert passes.get("c") is None


def test_long_headers_are_not_remembered():
    passes = PassCache(5.0, lambda user_id: ENABLED)
    passes.remember("x" * (MAX_KEY + 1), Identity("alice", "s1"), ENABLED, INFO)
    assert len(passes) == 0


def test_the_cache_is_bounded():
    passes = PassCache(5.0, lambda user_id: ENABLED, maxsize=100)
    for i in range(1000):
        passes.remember(f"c{i}", Identity("alice", "s1"), ENABLED, INFO)
    assert len(passes) == 100 and passes.get("c999") is INFO and passes.get("c0") is None

"""Caches on the hot path never outlive what they were built from, and never keep
a value read before a write that this process made."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from werkzeug.test import Client

from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.cache import TTLCache
from twofa_middleware.identity import CookieKeyedIdentify
from twofa_middleware.testing import FixedClock

KEY = "unit-test-secret-key-0123456789abcdef"
ALICE = Identity("alice", "nonce-1")


def test_a_value_read_before_an_invalidation_is_not_cached_after_it():
    cache: TTLCache[str, str] = TTLCache(ttl=60)
    generation = cache.generation
    cache.pop("alice")  # a write happened while the old value was being read
    cache.set("alice", "stale", since=generation)
    assert cache.get("alice") is None
    cache.set("alice", "fresh", since=cache.generation)
    assert cache.get("alice") == "fresh"


def test_setting_drops_expired_entries_from_the_old_end():
    now = [0.0]
    cache: TTLCache[int, int] = TTLCache(ttl=1, clock=lambda: now[0])
    for i in range(3):
        cache.set(i, i)
    now[0] = 5.0
    cache.set(99, 99)
    assert len(cache) == 1


class _PausingStore(SQLAlchemyStore):
    """Holds one user_state read open until told to go on: a write lands in between."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.read_done = threading.Event()
        self.go_on = threading.Event()
        self.pause = False

    def user_state(self, user_id):  # type: ignore[no-untyped-def]
        state = super().user_state(user_id)
        if self.pause:
            self.pause = False
            self.read_done.set()
            self.go_on.wait(5)
        return state


def test_enabling_2fa_while_a_state_read_is_in_flight_takes_effect_at_once(tmp_path):
    store = _PausingStore(f"sqlite:///{tmp_path}/t.db")
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [])
        return [b"app"]

    middleware = TwoFactorMiddleware(
        app, secret_key=KEY, store=store, identify=lambda e: ALICE, check_password=lambda u, p: True
    )
    try:
        store.pause = True
        first = threading.Thread(target=lambda: Client(middleware).get("/"))
        first.start()
        assert store.read_done.wait(5)
        # 2FA is turned on through this process while the old "off" is in flight.
        store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], time.time())
        middleware.forget_cached()  # an invalidation while the old read is in flight, as a write here makes
        store.go_on.set()
        first.join(5)
        r = Client(middleware).get("/", headers={"Accept": "application/json"})
        assert r.status_code == 401 and r.json["error"] == "two_factor_required"
        assert calls == [1]
    finally:
        store.go_on.set()
        store.dispose()


@pytest.fixture
def remembering(tmp_path):
    """Identify by a cookie alone, so the middleware remembers its pass decisions;
    alice has 2FA on and a verified cookie one second from its 60-s expiry."""
    calls = []

    def app(environ, start_response):
        calls.append(1)
        start_response("200 OK", [])
        return [b"app"]

    def identify(environ):
        return ALICE if "sess=alice" in environ.get("HTTP_COOKIE", "") else None

    clock = FixedClock(time.time())
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db")
    middleware = TwoFactorMiddleware(
        app, secret_key=KEY, store=store, identify=CookieKeyedIdentify(identify), check_password=lambda u, p: True,
        verified_max_age=60, cache_seconds=30, clock=clock,
    )
    store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], clock())
    epoch = middleware.service.state("alice").epoch
    value = middleware.cookies.verified_value(ALICE, epoch)
    clock.advance(59)
    yield middleware, value, epoch, calls, clock
    store.dispose()


# itsdangerous counts whole seconds: 2 s more and the cookie is over 60 s old.
PAST_EXPIRY = 2


def test_a_remembered_pass_ends_when_its_verified_cookie_expires(remembering):
    middleware, value, _, calls, clock = remembering
    client = Client(middleware)
    client.set_cookie("sess", "alice")
    client.set_cookie(middleware.cookies.verified_name, value)
    assert client.get("/").status_code == 200  # passed, and remembered
    clock.advance(PAST_EXPIRY)
    r = client.get("/", headers={"Accept": "application/json"})
    assert r.status_code == 401 and calls == [1]


def test_a_cached_verified_cookie_is_refused_once_it_expires(remembering):
    middleware, value, epoch, _, clock = remembering
    environ = {"HTTP_COOKIE": f"{middleware.cookies.verified_name}={value}"}
    assert middleware.cookies.verified_until(environ, ALICE, epoch) is not None  # now cached
    clock.advance(PAST_EXPIRY)
    assert middleware.cookies.verified_until(environ, ALICE, epoch) is None


@pytest.fixture
def flask_app():
    app = Flask(__name__)
    app.config.update(SECRET_KEY=KEY, PERMANENT_SESSION_LIFETIME=2)
    return app


def _session_cookie(app: Flask, data: dict) -> dict:
    value = app.session_interface.get_signing_serializer(app).dumps(data)
    return {"HTTP_COOKIE": f"session={value}"}


def test_a_cached_flask_session_ends_with_its_signature(flask_app):
    identify = session_identify(flask_app, cache_seconds=30)
    environ = _session_cookie(flask_app, {"user_id": "alice", "login_nonce": "n"})
    assert identify(environ) == Identity("alice", "n")
    time.sleep(3.2)  # PERMANENT_SESSION_LIFETIME is 2 s; itsdangerous counts whole seconds
    assert identify(environ) is None


@pytest.mark.parametrize("nonce", [pytest.param(None, id="no-nonce"), pytest.param("", id="empty-nonce")])
def test_a_flask_session_without_a_nonce_still_names_the_user(flask_app, nonce):
    """Never 'signed out' (which would pass the request on): the user, with no session key to verify."""
    data = {"user_id": "bob"} if nonce is None else {"user_id": "bob", "login_nonce": nonce}
    identity = session_identify(flask_app)(_session_cookie(flask_app, data))
    assert identity == Identity("bob", "")


def test_forged_flask_sessions_are_not_kept(flask_app):
    identify = session_identify(flask_app)
    for i in range(50):
        assert identify({"HTTP_COOKIE": f"session=forged{i}.x.y"}) is None
    assert identify.cache is not None and len(identify.cache) == 0

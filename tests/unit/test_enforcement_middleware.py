"""Grace periods through the middleware: what the app finds, and the pass cache (#14)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
from werkzeug.test import Client

from twofa_middleware import TwoFactorMiddleware
from twofa_middleware.identity import CookieKeyedIdentify, Identity, TwoFactorInfo
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock

from .helpers import KEY

COOKIE = "sid=alice"


def make(deadline: float, cache_seconds: float = 60.0):  # type: ignore[no-untyped-def]
    clock = FixedClock()
    identified: list[int] = []
    seen: list[TwoFactorInfo] = []

    def identify(environ):  # type: ignore[no-untyped-def]
        identified.append(1)
        return Identity("alice", "s1", clock.now + 7 * 86400) if environ.get("HTTP_COOKIE") == COOKIE else None

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        seen.append(environ["twofa"])
        start_response("200 OK", [])
        return [b"ok"]

    store = SQLAlchemyStore("sqlite://")
    mw = TwoFactorMiddleware(
        app, secret_key=KEY, store=store, identify=CookieKeyedIdentify(identify), check_password=lambda u, p: True,
        cache_seconds=cache_seconds, clock=clock, enroll_by=lambda user: datetime.fromtimestamp(deadline, UTC),
    )
    return mw, clock, identified, seen


def get(mw: TwoFactorMiddleware, path: str = "/") -> str:
    status: list[str] = []
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_COOKIE": COOKIE, "HTTP_ACCEPT": "text/html",
               "SERVER_NAME": "x", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
    b"".join(mw(environ, lambda s, h, e=None: status.append(s)))  # type: ignore[arg-type,misc]
    return status[0]


def test_the_app_finds_the_days_left_and_the_deadline() -> None:
    start = FixedClock().now
    mw, _, _, seen = make(start + 2.5 * 86400)
    assert get(mw).startswith("200")
    assert seen[0].enroll_days_left == 3 and seen[0].enroll_by == datetime.fromtimestamp(start + 2.5 * 86400, UTC)
    mw.service.store.dispose()


def test_a_grace_pass_is_remembered_but_never_past_the_deadline() -> None:
    start = FixedClock().now
    mw, clock, identified, _ = make(start + 30)
    assert get(mw).startswith("200") and get(mw).startswith("200")
    assert len(identified) == 1  # the second answer came from the remembered pass
    clock.advance(29)
    assert get(mw).startswith("200") and len(identified) == 1
    clock.advance(1)  # the deadline: the pass is forgotten, and the user must enroll
    assert get(mw).startswith("303") and len(identified) == 2
    assert get(mw, "/other").startswith("303")
    mw.service.store.dispose()


def test_a_remembered_pass_ends_when_the_days_left_change() -> None:
    start = FixedClock().now
    mw, clock, identified, seen = make(start + 86400 + 40)
    assert get(mw).startswith("200") and seen[-1].enroll_days_left == 2
    clock.advance(39)
    assert get(mw).startswith("200") and seen[-1].enroll_days_left == 2 and len(identified) == 1
    clock.advance(1)
    assert get(mw).startswith("200") and seen[-1].enroll_days_left == 1 and len(identified) == 2
    mw.service.store.dispose()


def test_a_user_past_the_deadline_enrolls_with_the_password_again_and_the_hook_hears_enabled() -> None:
    events: list[tuple[str, str]] = []
    passwords: list[str] = []
    clock = FixedClock()

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", [])
        return [b"the app"]

    def check_password(user: str, password: str) -> bool:
        passwords.append(password)
        return password == "right"

    mw = TwoFactorMiddleware(
        app, secret_key=KEY, store=SQLAlchemyStore("sqlite://"), identify=lambda environ: Identity("alice", "s1"),
        check_password=check_password, notify=lambda user, event: events.append((user, event)), clock=clock,
        enroll_by=lambda user: datetime.fromtimestamp(clock.now - 1, UTC),
    )
    client = Client(mw)
    json = {"Accept": "application/json"}
    r = client.get("/home", headers=json)
    assert r.status_code == 403 and r.json["error"] == "two_factor_enrollment_required"
    refused = client.post("/_2fa/api/enroll", json={}, headers=json)
    assert refused.status_code == 403 and "secret" not in refused.json  # the password first
    assert client.post("/_2fa/api/confirm-password", json={"password": "right"}, headers=json).status_code == 200
    secret = client.post("/_2fa/api/enroll", json={}, headers=json).json["secret"]
    code = pyotp.TOTP(secret).at(clock.now)
    assert client.post("/_2fa/api/enroll/confirm", json={"code": code}, headers=json).status_code == 200
    assert passwords == ["right"] and events == [("alice", "enabled")]
    after = client.get("/home", headers=json)  # the setup counts as this sign-in's second factor
    assert after.status_code == 200 and after.data == b"the app"
    mw.service.store.dispose()

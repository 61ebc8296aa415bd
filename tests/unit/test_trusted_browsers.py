"""Trusted browsers ("Remember this browser"): the decision's facts, the cookie, the label, the service
steps, and the middleware end to end on werkzeug's test client with a fixed clock."""

from __future__ import annotations

import json
from dataclasses import replace

import pyotp
import pytest
from werkzeug.test import Client

from twofa_middleware import TwoFactorMiddleware
from twofa_middleware.config import Settings
from twofa_middleware.cookies import Cookies
from twofa_middleware.crypto import KeyRing
from twofa_middleware.decision import Challenge, Facts, Pass, Policy, decide
from twofa_middleware.identity import Identity
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import TrustedBrowserRecord, UserState
from twofa_middleware.testing import FixedClock
from twofa_middleware.trusted import hash_secret, label

from .helpers import KEY, T0

NOW = 1_800_000_000.0
POLICY = Policy(("/logout",), {"verify": "/_2fa/verify"})
ALICE = Identity("alice", "nonce-2")
ON = UserState(enabled=True, epoch=3, recovery_codes_left=7)
RECORD = TrustedBrowserRecord(
    id=5, user_id="alice", secret_hash="h", label="Firefox on Linux", ip="127.0.0.1", created_at=NOW - 86400,
    last_used_at=NOW - 86400, expires_at=NOW + 86400, epoch=3, revoked_at=None,
)


def outcome(decision: object) -> str:
    if isinstance(decision, Pass):
        spared = " spared" if decision.trusted_by is not None else ""
        remembered = " remembered" if decision.remember_until is not None else ""
        return f"pass verified={decision.info.verified}{spared}{remembered}"
    assert isinstance(decision, Challenge)
    return f"challenge {decision.step}"


@pytest.mark.parametrize(
    "facts, expected",
    [
        pytest.param(Facts("/home", ALICE, ON, now=NOW, trusted_browser=RECORD), "pass verified=True spared",
                     id="own-record-spares-the-code-never-remembered"),
        pytest.param(Facts("/home", ALICE, ON, now=NOW, trusted_browser=replace(RECORD, user_id="mallory")),
                     "challenge verify", id="another-users-record-spares-nothing"),
        pytest.param(Facts("/home", ALICE, ON, now=NOW, trusted_browser=replace(RECORD, epoch=2)),
                     "challenge verify", id="record-of-an-earlier-enrollment"),
        pytest.param(Facts("/home", ALICE, ON, now=NOW, trusted_browser=replace(RECORD, revoked_at=NOW - 1)),
                     "challenge verify", id="revoked"),
        pytest.param(Facts("/home", ALICE, ON, now=NOW, trusted_browser=replace(RECORD, expires_at=NOW)),
                     "challenge verify", id="expired"),
        pytest.param(Facts("/home", Identity("alice", ""), ON, now=NOW, trusted_browser=RECORD),
                     "challenge verify", id="no-session-key-to-bind-the-verified-cookie-to"),
        pytest.param(Facts("/home", ALICE, ON, verified_until=NOW + 60, now=NOW, trusted_browser=RECORD),
                     "pass verified=True remembered", id="already-verified-is-the-steady-state"),
        pytest.param(Facts("/home", ALICE, ON, now=NOW), "challenge verify", id="no-record"),
    ],
)
def test_a_trusted_browser_spares_the_code_only_to_its_own_user_of_this_enrollment(facts, expected):
    assert outcome(decide(facts, POLICY)) == expected


def test_the_pass_names_the_sign_in_the_verified_cookie_is_for():
    decision = decide(Facts("/home", ALICE, ON, now=NOW, trusted_browser=RECORD), POLICY)
    assert isinstance(decision, Pass) and decision.identity == ALICE and decision.trusted_by == RECORD


@pytest.mark.parametrize(
    "user_agent, expected",
    [
        pytest.param("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux",
                     id="firefox-linux"),
        pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Safari/537.36", "Chrome on Windows", id="chrome-windows"),
        pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0", "Edge on Windows", id="edge-windows"),
        pytest.param("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                     "Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS", id="safari-ios"),
        pytest.param("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                     "Version/17.5 Safari/605.1.15", "Safari on macOS", id="safari-macos"),
        pytest.param("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Mobile Safari/537.36", "Chrome on Android", id="chrome-android"),
        pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/130.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Linux", id="opera"),
        pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "HeadlessChrome/130.0.0.0 Safari/537.36", "Chrome on Linux", id="headless-chrome"),
        pytest.param("curl/8.5.0", "Unknown browser", id="curl"),
        pytest.param(None, "Unknown browser", id="none"),
        pytest.param("x" * 100_000 + " Firefox/1", "Unknown browser", id="huge-is-cut-before-parsing"),
    ],
)
def test_the_label_names_browser_and_system(user_agent, expected):
    assert label(user_agent) == expected


# -- the cookie ------------------------------------------------------------------------------


def cookies_for(clock: FixedClock, days: int | None = 30) -> Cookies:
    return Cookies(Settings(remember_days=days), KeyRing(KEY), clock)


def environ_with(cookies: Cookies, value: str) -> dict[str, str]:
    return {"HTTP_COOKIE": f"{cookies.trusted_name}={value}"}


def test_the_cookie_carries_the_record_id_and_secret_signed(clock):
    cookies = cookies_for(clock)
    value = cookies.trusted_value(5, "s3cret")
    assert cookies.trusted_candidates(environ_with(cookies, value)) == [(5, "s3cret")]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"), id="signature-changed"),
        pytest.param(lambda v: "W1swLCJ4Il0" + v[v.index("."):], id="payload-swapped"),
        pytest.param(lambda v: "garbage", id="garbage"),
        pytest.param(lambda v: "", id="empty"),
    ],
)
def test_a_tampered_cookie_is_ignored(clock, mangle):
    cookies = cookies_for(clock)
    value = cookies.trusted_value(5, "s3cret")
    assert cookies.trusted_candidates(environ_with(cookies, mangle(value))) == []


def test_a_verified_cookie_value_is_no_trusted_cookie(clock):
    cookies = cookies_for(clock)
    value = cookies.verified_value(ALICE, 3)  # another salt: never read as this kind
    assert cookies.trusted_candidates(environ_with(cookies, value)) == []


def test_the_cookie_ends_after_remember_days_and_is_never_read_when_remembering_is_off(clock):
    cookies = cookies_for(clock)
    value = cookies.trusted_value(5, "s3cret")
    assert cookies_for(clock, None).trusted_candidates(environ_with(cookies, value)) == []
    clock.advance(30 * 86400 + 1)
    assert cookies.trusted_candidates(environ_with(cookies, value)) == []


def test_the_cookie_is_httponly_samesite_lax_and_lasts_remember_days(clock):
    _, header = cookies_for(clock).trusted_header("v", secure=True)
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header
    assert "Max-Age=2592000" in header


@pytest.mark.parametrize("days", [-1, 366, 1.5, True, "30"])
def test_remember_days_out_of_range_is_refused(days):
    with pytest.raises(ValueError, match="remember_days"):
        Settings(remember_days=days)


@pytest.mark.parametrize("days", [None, 0, 1, 365])
def test_remember_days_in_range_is_taken(days):
    assert Settings(remember_days=days).remember_days == days


# -- the middleware, end to end ------------------------------------------------------------------


class Browser:
    """One browser (one cookie jar) against one middleware; ``sign_in`` is the app's own sign-in."""

    def __init__(self, mw: TwoFactorMiddleware) -> None:
        self.client = Client(mw)
        self.mw = mw
        self.nonce = 0

    def sign_in(self, user: str) -> None:
        self.nonce += 1
        self.client.set_cookie("sid", f"{user}:{self.nonce}")
        self.client.delete_cookie(self.mw.cookies.verified_name)  # the app's sign-in starts a new session

    def get(self, path: str = "/home"):
        return self.client.get(path, headers={"Accept": "text/html"})

    def verify(self, code: str, **extra: object):
        return self.client.post("/_2fa/api/verify", data=json.dumps({"code": code, **extra}),
                                content_type="application/json")

    def api(self, method: str, path: str):
        return self.client.open(f"/_2fa/api{path}", method=method, headers={"Accept": "application/json"})


def identify(environ):
    cookie = environ.get("HTTP_COOKIE", "")
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "sid" and ":" in value:
            user, nonce = value.split(":", 1)
            return Identity(user, nonce)
    return None


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello {environ['twofa'].user_id}".encode()]


class World:
    def __init__(self, days: int | None = 30) -> None:
        self.clock = FixedClock(T0)
        self.store = SQLAlchemyStore("sqlite://")
        self.events: list[tuple[str, str]] = []
        self.mw = TwoFactorMiddleware(
            app, secret_key=KEY, store=self.store, identify=identify, check_password=lambda u, p: True,
            clock=self.clock, cache_seconds=0, remember_days=days,
            notify=lambda user, event: self.events.append((user, event)),
        )
        self.secrets: dict[str, str] = {}
        self.codes: dict[str, list[str]] = {}

    def enable(self, user: str) -> list[str]:
        secret = self.mw.service.enrollment(user).secret
        self.secrets[user] = secret
        codes = self.mw.service.confirm_enrollment(user, pyotp.TOTP(secret).at(self.clock())).recovery_codes
        self.codes[user] = codes
        self.clock.advance(30)
        return codes

    def code(self, user: str) -> str:
        self.clock.advance(30)  # a fresh time step: each is accepted once
        return pyotp.TOTP(self.secrets[user]).at(self.clock())


@pytest.fixture
def world():
    w = World()
    yield w
    w.store.dispose()


def remembered_browser(world: World, user: str = "alice") -> Browser:
    world.enable(user)
    browser = Browser(world.mw)
    browser.sign_in(user)
    assert browser.get().status_code == 303
    r = browser.verify(world.code(user), remember=True)
    assert r.status_code == 200 and r.json["remembered"] is True
    assert browser.get().status_code == 200
    return browser


def test_a_remembered_browser_signs_in_again_without_the_code(world):
    browser = remembered_browser(world)
    browser.sign_in("alice")
    r = browser.get()
    assert r.status_code == 200 and r.text == "hello alice"
    # The verified cookie for this new sign-in rides along: the next request is the steady state.
    assert any(h.startswith(world.mw.cookies.verified_name + "=") for h in r.headers.getlist("Set-Cookie"))
    assert world.mw.decision({**_environ(browser), "PATH_INFO": "/home"}, "/home").trusted_by is None
    assert ("alice", "browser_trusted") in world.events


def _environ(browser: Browser) -> dict[str, object]:
    names = ("sid", browser.mw.cookies.verified_name, browser.mw.cookies.trusted_name)
    jar = [browser.client.get_cookie(name) for name in names]
    cookie = "; ".join(f"{c.key}={c.value}" for c in jar if c is not None)
    return {"HTTP_COOKIE": cookie, "REQUEST_METHOD": "GET", "wsgi.url_scheme": "http"}


def test_only_the_hash_of_the_secret_is_stored(world):
    browser = remembered_browser(world)
    value = browser.client.get_cookie(world.mw.cookies.trusted_name).value
    [(browser_id, secret)] = world.mw.cookies.trusted_candidates({"HTTP_COOKIE": f"twofa_trusted={value}"})
    record = world.store.trusted_browser(browser_id)
    assert record is not None and record.secret_hash == hash_secret(secret) and secret not in record.secret_hash
    assert record.user_id == "alice" and record.epoch == world.mw.service.state("alice").epoch


def test_another_user_in_the_same_browser_still_owes_the_code(world):
    browser = remembered_browser(world)
    world.enable("bob")
    browser.sign_in("bob")
    assert browser.get().status_code == 303


def test_revoking_makes_the_next_sign_in_ask_for_the_code(world):
    browser = remembered_browser(world)
    [listed] = browser.api("GET", "/browsers").json["browsers"]
    assert listed["this_browser"] is True and listed["label"] == "Unknown browser"
    r = browser.api("DELETE", f"/browsers/{listed['id']}")
    assert r.status_code == 200 and r.json == {"id": listed["id"], "revoked": True}
    assert browser.api("DELETE", f"/browsers/{listed['id']}").status_code == 404
    browser.sign_in("alice")
    assert browser.get().status_code == 303
    assert ("alice", "browser_revoked") in world.events


def test_a_revoked_cookie_replayed_still_asks_for_the_code(world):
    browser = remembered_browser(world)
    value = browser.client.get_cookie(world.mw.cookies.trusted_name).value
    world.mw.service.revoke_browsers("alice")
    browser.sign_in("alice")
    browser.client.set_cookie(world.mw.cookies.trusted_name, value)
    assert browser.get().status_code == 303


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda w: w.mw.service.disable("alice"), id="2fa-disabled"),
        pytest.param(lambda w: w.mw.forget_browsers("alice"), id="app-says-password-changed"),
    ],
)
def test_all_trust_ends(world, end):
    browser = remembered_browser(world)
    end(world)
    if not world.mw.service.state("alice").enabled:
        world.enable("alice")  # set up anew: the old record is of another epoch anyway
    browser.sign_in("alice")
    assert browser.get().status_code == 303
    assert ("alice", "browsers_forgotten") in world.events


def test_a_recovery_code_sign_in_ends_all_trust_and_starts_none(world):
    browser = remembered_browser(world)
    other = Browser(world.mw)
    other.sign_in("alice")
    r = other.verify(world.codes["alice"][0], remember=True)
    assert r.status_code == 200 and r.json == {"verified": True, "method": "recovery", "remembered": False}
    assert other.client.get_cookie(world.mw.cookies.trusted_name) is None
    browser.sign_in("alice")
    assert browser.get().status_code == 303
    assert world.mw.service.browsers("alice") == []


def test_forget_browsers_counts_and_logs(world):
    remembered_browser(world)
    assert world.mw.forget_browsers("alice") == 1
    assert world.mw.service.forget_browsers("alice", ip="10.0.0.1") == 0
    events = [(e.event, e.detail, e.remote_addr) for e in world.store.events("alice", 3)]
    assert events[0] == ("browsers_forgotten", "0", "10.0.0.1") and events[1][:2] == ("browsers_forgotten", "1")


def test_a_tampered_cookie_asks_for_the_code_never_a_500(world):
    remembered_browser(world)
    browser = Browser(world.mw)
    browser.sign_in("alice")
    for value in ("x", "W1s1LCJzIl0.AAAA.BBBB", "a" * 3000, "%ff%00"):
        browser.client.set_cookie(world.mw.cookies.trusted_name, value)
        assert browser.get().status_code == 303


def test_remember_is_refused_when_off_and_when_not_a_boolean_and_the_code_is_not_spent():
    world = World(days=None)
    world.enable("alice")
    browser = Browser(world.mw)
    browser.sign_in("alice")
    code = world.code("alice")
    r = browser.verify(code, remember=True)
    assert r.status_code == 400 and r.json["error"] == "remember_disabled"
    r = browser.verify(code, remember="yes")
    assert r.status_code == 400 and r.json["error"] == "invalid_request"
    assert browser.verify(code).status_code == 200  # the code was not spent by the refusals
    assert browser.api("GET", "/browsers").json == {"browsers": []}
    world.store.dispose()


def test_a_record_expires_after_remember_days(world):
    browser = remembered_browser(world)
    world.clock.advance(30 * 86400)
    browser.sign_in("alice")
    assert browser.get().status_code == 303


def test_the_lookup_stamps_the_last_use(world):
    browser = remembered_browser(world)
    [record] = world.mw.service.browsers("alice")
    world.clock.advance(3600)
    browser.sign_in("alice")
    assert browser.get().status_code == 200
    [stamped] = world.mw.service.browsers("alice")
    assert stamped.last_used_at == world.clock() and record.last_used_at < stamped.last_used_at


def test_a_remembered_browser_landing_on_the_2fa_pages_first_is_not_asked_either(world):
    browser = remembered_browser(world)
    browser.sign_in("alice")
    status = browser.api("GET", "/status")
    assert status.json["verified"] is True
    assert any(h.startswith(world.mw.cookies.verified_name + "=") for h in status.headers.getlist("Set-Cookie"))
    page = browser.client.get("/_2fa/verify?next=/home", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["Location"] == "/home"
    world.enable("bob")
    browser.sign_in("bob")  # alice's cookie spares bob nothing, here either
    assert browser.api("GET", "/status").json["verified"] is False
    assert browser.client.get("/_2fa/verify", headers={"Accept": "text/html"}).status_code == 200


def test_forward_auth_renders_the_spared_sign_in_with_its_verified_cookie_and_never_for_another_user(world):
    from twofa_middleware.proxy.forward_auth import ForwardAuth

    browser = remembered_browser(world)
    judge = Client(ForwardAuth(world.mw), use_cookies=False)
    trusted = browser.client.get_cookie(world.mw.cookies.trusted_name).value

    def ask(sid: str):
        return judge.get("/_twofa_auth", headers={
            "X-Original-URI": "/home", "Accept": "text/html",
            "Cookie": f"sid={sid}; {world.mw.cookies.trusted_name}={trusted}",
        })

    r = ask("alice:99")  # a new sign-in of alice, with her trusted cookie
    assert r.status_code == 200 and r.headers["X-Twofa-User"] == "alice"
    [verified] = [h for h in r.headers.getlist("Set-Cookie") if h.startswith(world.mw.cookies.verified_name + "=")]
    value = verified.split(";")[0].split("=", 1)[1]
    assert world.mw.cookies.verified_until(
        {"HTTP_COOKIE": f"{world.mw.cookies.verified_name}={value}"}, Identity("alice", "99"),
        world.mw.service.state("alice").epoch) is not None
    world.enable("bob")
    r = ask("bob:1")
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    world.mw.service.revoke_browsers("alice")
    assert ask("alice:100").status_code == 401

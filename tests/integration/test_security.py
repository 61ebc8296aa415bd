"""Security properties over real HTTP, plus a bare WSGI boundary for failing closed."""

from __future__ import annotations

import html
import time
from pathlib import Path

import pyotp
import pytest
from werkzeug.test import Client

from tests.helpers import SECRET_KEY, alert_of, csrf_of, manual_key_of, recovery_codes_of
from tests.integration.flows import (
    PASSWORD,
    confirm_password,
    enrolled_user,
    form_action,
    form_fields,
    is_challenged,
    next_code,
    now_code,
    register,
    sign_in,
    sign_out,
    signed_in_again,
    verify,
    wrong_code,
)
from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.cookies import Cookies

CSRF_MESSAGE = "The form has expired or did not come from this site. Reload the page and try again."


# -- helpers --------------------------------------------------------------------------


def jar_cookie(s, name: str):
    found = [c for c in s.cookies if c.name == name]
    assert len(found) == 1, f"expected one {name} cookie, found {len(found)}"
    return found[0]


def put_cookie(s, name: str, value: str, path: str = "/") -> None:
    """Set or replace a cookie in the browser's jar, as a user with dev tools could."""
    for c in list(s.cookies):
        if c.name == name:
            s.cookies.clear(c.domain, c.path, c.name)
    s.cookies.set(name, value, domain=jar_cookie(s, "session").domain, path=path)


def change_signature(value: str) -> str:
    i = len(value) - 10  # inside the signature; the last base64 char may be padding bits only
    return value[:i] + ("A" if value[i] != "A" else "B") + value[i + 1 :]


def failures(live, user: str) -> int:
    return live.middleware.service.store.failures(user)


def events(live, user: str) -> list[str]:
    return [e.event for e in reversed(live.middleware.service.store.events(user))]


def identity_of(live, s) -> Identity:
    """Who the app says this browser is (user and login nonce)."""
    identity = live.middleware.identify({"HTTP_COOKIE": f"session={jar_cookie(s, 'session').value}"})
    assert identity is not None
    return identity


def set_cookie_headers(response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


# -- replay and lockout ------------------------------------------------------------------


def test_same_code_is_refused_the_second_time(live_app):
    s, key, _ = enrolled_user(live_app)
    code = next_code(key)
    signed_in_again(live_app, s, "alice")
    assert verify(live_app, s, code).status_code == 303

    signed_in_again(live_app, s, "alice")
    replay = verify(live_app, s, code)
    assert replay.status_code == 409
    assert "already used" in alert_of(replay.text)
    assert is_challenged(live_app, s)


def test_the_setup_code_cannot_be_replayed_at_sign_in(live_app):
    s = register(live_app, "alice")
    setup = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup"))
    key = manual_key_of(setup.text)
    code = now_code(key)
    s.post(live_app.url + "/_2fa/setup", data={**form_fields(setup.text), "code": code})
    signed_in_again(live_app, s, "alice")
    assert verify(live_app, s, code).status_code == 409


def test_five_wrong_codes_lock_out_even_the_right_code(live_app):
    s, key, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    bad = wrong_code(key)
    for attempt in range(5):
        r = verify(live_app, s, bad)
        assert r.status_code == 400, attempt
        assert "not valid" in alert_of(r.text)

    locked = verify(live_app, s, next_code(key))
    assert locked.status_code == 429
    assert "Too many wrong codes. Try again in" in alert_of(locked.text)
    assert verify(live_app, s, codes[0]).status_code == 429
    page = s.get(live_app.url + "/_2fa/verify")
    assert "Too many wrong codes" in alert_of(page.text)
    assert is_challenged(live_app, s)
    assert "lockout" in events(live_app, "alice")


def test_lockout_survives_a_new_middleware_instance_on_the_same_database(live_app):
    s, key, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    for _ in range(5):
        verify(live_app, s, wrong_code(key))

    calls = []

    def app(environ, start_response):
        calls.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    alice = Identity("alice", "another-instance-sign-in")
    store = SQLAlchemyStore(live_app.db_url)
    fresh = TwoFactorMiddleware(
        app, secret_key=SECRET_KEY, store=store, identify=lambda environ: alice,
        check_password=lambda user, password: False,
    )
    try:
        client = Client(fresh)
        r = client.post("/_2fa/verify", headers={"Accept": "text/html"},
                        data={"csrf_token": fresh.cookies.csrf_token(alice), "code": next_code(key)})
        assert r.status_code == 429
        assert "Too many wrong codes" in r.get_data(as_text=True)
        assert client.get("/", headers={"Accept": "text/html"}).status_code == 303
        assert calls == []
    finally:
        store.dispose()


# -- CSRF ----------------------------------------------------------------------------------


def _verify_action(live):
    s, key, _ = enrolled_user(live)
    signed_in_again(live, s, "alice")
    code = next_code(key)

    def check_unchanged():
        assert is_challenged(live, s)
        assert verify(live, s, code).status_code == 303  # the code was not spent

    return s, "/_2fa/verify", {"code": code, "next": "/settings"}, check_unchanged


def _setup_action(live):
    s = register(live, "alice")
    setup = confirm_password(live, s, s.get(live.url + "/_2fa/setup"))
    code = now_code(manual_key_of(setup.text))

    def check_unchanged():
        assert "Two-factor authentication is not enabled." in s.get(live.url + "/settings").text

    return s, "/_2fa/setup", {"code": code}, check_unchanged


def _confirm_password_action(live):
    s = register(live, "alice")

    def check_unchanged():
        assert not [c for c in s.cookies if c.name == "twofa_sudo"]
        assert "Confirm your password" in s.get(live.url + "/_2fa/setup").text

    return s, "/_2fa/confirm-password", {"password": PASSWORD, "next": "/_2fa/setup"}, check_unchanged


def _regenerate_action(live):
    s, _, codes = enrolled_user(live)

    def check_unchanged():
        assert recovery_codes_of(s.get(live.url + "/_2fa/recovery-codes").text) == codes

    return s, "/_2fa/recovery-codes/regenerate", {"confirm": "1", "password": PASSWORD}, check_unchanged


def _disable_action(live):
    s, _, _ = enrolled_user(live)

    def check_unchanged():
        assert "Two-factor authentication is enabled." in s.get(live.url + "/settings").text

    return s, "/_2fa/disable", {"confirm": "1", "password": PASSWORD}, check_unchanged


def _done_action(live):
    s = register(live, "alice")
    setup = confirm_password(live, s, s.get(live.url + "/_2fa/setup?next=/settings"))
    s.post(live.url + "/_2fa/setup", data={**form_fields(setup.text), "code": now_code(manual_key_of(setup.text))})

    def check_unchanged():
        pass  # Done changes nothing server-side; the 403 is the point

    return s, "/_2fa/setup/recovery-codes", {"saved": "on", "next": "/settings"}, check_unchanged


ACTIONS = [
    pytest.param(_verify_action, id="verify"),
    pytest.param(_setup_action, id="setup"),
    pytest.param(_confirm_password_action, id="confirm-password"),
    pytest.param(_regenerate_action, id="regenerate"),
    pytest.param(_disable_action, id="disable"),
    pytest.param(_done_action, id="done"),
]
TOKENS = [
    pytest.param(None, id="missing"),
    pytest.param("", id="empty"),
    pytest.param("0" * 64, id="forged"),
    pytest.param("é" * 64, id="non-ascii"),
]


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("action", ACTIONS)
def test_post_without_valid_csrf_token_is_403_and_changes_nothing(live_app, action, token):
    s, path, data, check_unchanged = action(live_app)
    if token is not None:
        data = {**data, "csrf_token": token}
    r = s.post(live_app.url + path, data=data, allow_redirects=False)
    assert r.status_code == 403
    assert alert_of(r.text) == CSRF_MESSAGE
    assert not [h for h in set_cookie_headers(r) if h.startswith(("twofa_verified=", "twofa_sudo="))]
    check_unchanged()


def test_csrf_token_of_an_earlier_sign_in_is_refused(live_app):
    s, key, _ = enrolled_user(live_app)
    old_token = csrf_of(s.get(live_app.url + "/_2fa/disable").text)
    signed_in_again(live_app, s, "alice")
    r = s.post(live_app.url + "/_2fa/verify", data={"csrf_token": old_token, "code": next_code(key)})
    assert r.status_code == 403
    assert is_challenged(live_app, s)


def test_csrf_token_of_another_user_is_refused(live_app):
    bob = register(live_app, "bob")
    bobs_token = csrf_of(bob.get(live_app.url + "/_2fa/setup").text)
    s, _, _ = enrolled_user(live_app)
    r = s.post(live_app.url + "/_2fa/disable", data={"csrf_token": bobs_token, "confirm": "1"})
    assert r.status_code == 403


# -- verified cookie --------------------------------------------------------------------------


def test_tampered_verified_cookie_is_challenged(live_app):
    s, _, _ = enrolled_user(live_app)
    assert not is_challenged(live_app, s)
    put_cookie(s, "twofa_verified", change_signature(jar_cookie(s, "twofa_verified").value))
    assert is_challenged(live_app, s)


def test_another_users_verified_cookie_is_challenged(live_app):
    bob, _, _ = enrolled_user(live_app, "bob")
    bobs_cookie = jar_cookie(bob, "twofa_verified").value
    assert not is_challenged(live_app, bob)

    s, _, _ = enrolled_user(live_app, "alice")
    signed_in_again(live_app, s, "alice")
    put_cookie(s, "twofa_verified", bobs_cookie)
    assert is_challenged(live_app, s)


def test_verified_cookie_of_an_earlier_sign_in_is_challenged(live_app):
    s, _, _ = enrolled_user(live_app)
    earlier = jar_cookie(s, "twofa_verified").value
    signed_in_again(live_app, s, "alice")
    assert jar_cookie(s, "twofa_verified").value == earlier  # sign-out did not remove it
    assert is_challenged(live_app, s)


def test_verified_cookie_stops_working_when_2fa_is_set_up_again(live_app):
    s, _, _ = enrolled_user(live_app)
    before = jar_cookie(s, "twofa_verified").value
    confirm = s.get(live_app.url + "/_2fa/disable")
    s.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    setup = s.get(live_app.url + "/_2fa/setup")
    s.post(live_app.url + "/_2fa/setup", data={**form_fields(setup.text), "code": now_code(manual_key_of(setup.text))})
    put_cookie(s, "twofa_verified", before)
    assert is_challenged(live_app, s)


# -- sudo (password re-confirmation) ---------------------------------------------------------


def test_password_confirmation_is_bound_to_the_sign_in(live_app):
    s, _, codes = enrolled_user(live_app)
    assert recovery_codes_of(s.get(live_app.url + "/_2fa/recovery-codes").text) == codes
    signed_in_again(live_app, s, "alice")
    verify(live_app, s, codes[0])
    assert jar_cookie(s, "twofa_sudo")  # the old confirmation is still in the browser
    asked = s.get(live_app.url + "/_2fa/recovery-codes")
    assert "Confirm your password" in asked.text
    assert not recovery_codes_of(asked.text)


@pytest.mark.parametrize(
    "age, asked",
    [
        pytest.param(280, False, id="within-five-minutes"),
        pytest.param(301, True, id="after-five-minutes"),
    ],
)
def test_password_confirmation_expires_after_five_minutes(live_app, age, asked):
    s, _, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    verify(live_app, s, codes[0])
    identity = identity_of(live_app, s)

    cookies = live_app.middleware.cookies
    value = Cookies(cookies.settings, cookies.keyring, clock=lambda: time.time() - age).sudo_value(identity)
    put_cookie(s, "twofa_sudo", value, path="/_2fa")
    page = s.get(live_app.url + "/_2fa/recovery-codes")
    assert ("Confirm your password" in page.text) is asked
    assert bool(recovery_codes_of(page.text)) is not asked


# -- malformed input ----------------------------------------------------------------------------

BAD_INPUT = [
    pytest.param({"code": ""}, id="empty"),
    pytest.param({"code": "abcdef"}, id="letters"),
    pytest.param({"code": "1234567"}, id="seven-digits"),
    pytest.param({"code": "1" * 1000}, id="1000-chars"),
    pytest.param({"code": "１２３４５６"}, id="full-width-digits"),
    pytest.param({}, id="missing-field"),
]


@pytest.mark.parametrize("data", BAD_INPUT)
def test_malformed_code_at_sign_in_is_4xx_and_counts_no_failure(live_app, data):
    s, key, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    before = events(live_app, "alice")
    page = s.get(live_app.url + "/_2fa/verify?next=/settings")
    for _ in range(6):  # more than the lockout threshold
        r = s.post(live_app.url + "/_2fa/verify", data={**form_fields(page.text), **data})
        assert 400 <= r.status_code < 500
        assert alert_of(r.text)
    assert failures(live_app, "alice") == 0
    assert events(live_app, "alice") == before
    assert is_challenged(live_app, s)
    assert verify(live_app, s, next_code(key)).status_code == 303


@pytest.mark.parametrize("data", BAD_INPUT)
def test_malformed_code_at_setup_is_4xx_and_leaves_2fa_off(live_app, data):
    s = register(live_app, "alice")
    setup = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup"))
    r = s.post(live_app.url + "/_2fa/setup", data={**form_fields(setup.text), **data})
    assert 400 <= r.status_code < 500
    assert alert_of(r.text)
    assert "Two-factor authentication is not enabled." in s.get(live_app.url + "/settings").text


# -- headers and cookies ---------------------------------------------------------------------


def _verified(live):
    s, _, _ = enrolled_user(live)
    return s, [
        "/_2fa/", "/_2fa/recovery-codes", "/_2fa/recovery-codes.txt", "/_2fa/recovery-codes/regenerate",
        "/_2fa/disable", "/_2fa/confirm-password", "/_2fa/setup", "/_2fa/verify", "/_2fa/no-such-page",
    ]


def _owing(live):
    s, _, _ = enrolled_user(live)
    signed_in_again(live, s, "alice")
    return s, ["/_2fa/verify", "/_2fa/", "/settings", "/_2fa/recovery-codes"]


def _signed_out(live):
    return live.session(), ["/_2fa/", "/_2fa/verify", "/_2fa/setup"]


@pytest.mark.parametrize(
    "who",
    [
        pytest.param(_verified, id="verified"),
        pytest.param(_owing, id="owing-second-factor"),
        pytest.param(_signed_out, id="signed-out"),
    ],
)
def test_every_2fa_page_and_redirect_sends_security_headers(live_app, who):
    s, paths = who(live_app)
    for path in paths:
        for accept in ("text/html", "application/json"):
            r = s.get(live_app.url + path, headers={"Accept": accept}, allow_redirects=False)
            where = f"{path} ({accept}) -> {r.status_code}"
            assert r.headers.get("Cache-Control") == "no-store", where
            csp = r.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in csp, where
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp, where
            assert r.headers.get("Referrer-Policy") == "no-referrer", where
            assert r.headers.get("X-Frame-Options") == "DENY", where
            assert r.headers.get("X-Content-Type-Options") == "nosniff", where


def test_cookies_are_httponly_and_samesite_lax(live_app):
    s = register(live_app, "alice")
    asked = s.get(live_app.url + "/_2fa/setup")
    sudo = s.post(live_app.url + "/_2fa/confirm-password",
                  data={**form_fields(asked.text), "password": PASSWORD}, allow_redirects=False)
    setup = s.get(live_app.url + "/_2fa/setup")
    enabled = s.post(live_app.url + "/_2fa/setup",
                     data={**form_fields(setup.text), "code": now_code(manual_key_of(setup.text))},
                     allow_redirects=False)
    sign_out(live_app, s)
    login = sign_in(live_app, s, "alice")

    headers = {
        "twofa_sudo": set_cookie_headers(sudo),
        "twofa_verified": set_cookie_headers(enabled),
        "session": set_cookie_headers(login),
    }
    for name, values in headers.items():
        mine = [v for v in values if v.startswith(name + "=")]
        assert mine, f"no {name} cookie set"
        for value in mine:
            flags = [f.strip().lower() for f in value.split(";")]
            assert "httponly" in flags, value
            assert "samesite=lax" in flags, value
    assert any("path=/_2fa" in v.lower() for v in headers["twofa_sudo"])


# -- failing closed ----------------------------------------------------------------------------


class CountingApp:
    """The protected app: counts how often it is reached."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the app"]


def header_identify(environ):
    user = environ.get("HTTP_X_USER")
    return Identity(user, environ.get("HTTP_X_SESSION", "s1")) if user else None


@pytest.fixture
def bare(tmp_path: Path):
    """TwoFactorMiddleware around a counting app, its SQLite file in its own directory."""
    directory = tmp_path / "db"
    directory.mkdir()
    store = SQLAlchemyStore(f"sqlite:///{directory}/twofa.db")
    app = CountingApp()
    mw = TwoFactorMiddleware(
        app, secret_key=SECRET_KEY, store=store, identify=header_identify,
        check_password=lambda user, password: password == PASSWORD, cache_seconds=0,
    )
    key = mw.service.enrollment("bob").secret
    mw.service.confirm_enrollment("bob", pyotp.TOTP(key).now())
    yield mw, app, directory
    store.dispose()


def test_store_down_fails_closed_for_2fa_users_and_lets_anonymous_through(bare):
    mw, app, directory = bare
    client = Client(mw)
    html_page = {"Accept": "text/html"}
    bob = {**html_page, "X-User": "bob"}
    cookie = mw.cookies.verified_value(Identity("bob", "s1"), mw.service.state("bob").epoch)
    client.set_cookie("twofa_verified", cookie)

    assert client.get("/", headers=bob).status_code == 200
    assert app.calls == 1

    mw.service.store.dispose()
    directory.rename(directory.with_name("db-gone"))
    try:
        for headers in (bob, {**bob, "X-Session": "s2"}, {**html_page, "X-User": "carol"}):
            r = client.get("/", headers=headers)
            assert r.status_code == 503, headers
            assert "Temporarily unavailable" in r.get_data(as_text=True)
            assert r.headers["Cache-Control"] == "no-store"
        api = client.get("/", headers={"Accept": "application/json", "X-User": "bob"})
        assert api.status_code == 503 and api.json["error"] == "store_unavailable"
        verify_post = client.post("/_2fa/verify", headers=bob, data={"code": "123456"})
        assert verify_post.status_code == 503
        assert app.calls == 1, "the app was reached while the store was down"

        anonymous = client.get("/", headers=html_page)
        assert anonymous.status_code == 200 and anonymous.get_data() == b"the app"
        assert app.calls == 2
    finally:
        directory.with_name("db-gone").rename(directory)

    assert client.get("/", headers=bob).status_code == 200
    assert app.calls == 3


# -- security log ---------------------------------------------------------------------------------


def test_security_log_records_enable_failures_lockout_recovery_and_disable(live_app):
    phone_owner, key, codes = enrolled_user(live_app)
    signed_in_again(live_app, phone_owner, "alice")
    assert verify(live_app, phone_owner, codes[0]).status_code == 303

    attacker = live_app.session()
    sign_in(live_app, attacker, "alice")
    for _ in range(5):
        verify(live_app, attacker, wrong_code(key))

    confirm = phone_owner.get(live_app.url + "/_2fa/disable")
    asked = phone_owner.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    confirm_password(live_app, phone_owner, asked)

    log = live_app.middleware.service.store.events("alice")
    names = [e.event for e in reversed(log)]
    assert names == ["enabled", "recovery_code_used"] + ["verify_failed"] * 5 + ["lockout", "disabled"]
    failed = [e for e in log if e.event == "verify_failed"]
    assert all(e.detail == "totp: invalid_code" for e in failed)
    assert all(e.remote_addr == "127.0.0.1" for e in log)
    assert all(e.user_id == "alice" for e in log)


# -- output escaping ----------------------------------------------------------------------------


def test_username_with_markup_is_escaped_on_2fa_pages(live_app):
    name = '<img src=x onerror="alert(1)">'
    s = register(live_app, name)
    asked = s.get(live_app.url + "/_2fa/setup")
    setup = confirm_password(live_app, s, asked)
    for page in (asked.text, setup.text):
        assert name not in page
        assert "Signed in as &lt;img src=x onerror=" in page
    uri = html.unescape(setup.text.split('id="otpauth-uri">')[1].split("<")[0])
    assert uri.startswith("otpauth://totp/Example%20App:%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E?")

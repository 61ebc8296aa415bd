"""The Flask integration (``TwoFactor``) over a real HTTP server: the app's own user is judged.

The example (Flask-Login, a "Remember me" checkbox, CSRFProtect) and small
Flask-Login apps built here are served on loopback; every test drives them with
``requests`` as a browser or an API client would.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
import requests
from cachelib import FileSystemCache
from flask import Flask, jsonify, request
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_session import Session

from examples.flask_app.app import create_app
from tests.helpers import SECRET_KEY, csrf_of, serve
from twofa_middleware import SQLAlchemyStore
from twofa_middleware.integrations.flask import TwoFactor
from twofa_middleware.testing import FixedClock

from .api_support import PASSWORD, ApiClient, Authenticator, bearer, use_clock

HTML = {"Accept": "text/html"}


@dataclass
class Live:
    url: str
    app: Flask
    middleware: Any


@pytest.fixture
def serving() -> Iterator[Callable[[Flask], Live]]:
    """Serve apps on loopback for the test; shut them down after it."""
    running: list[tuple[Any, Any, Flask]] = []

    def start(app: Flask) -> Live:
        url, server, thread = serve(app)
        running.append((server, thread, app))
        return Live(url, app, app.extensions["twofa"])

    yield start
    for server, thread, app in running:
        server.shutdown()
        thread.join(5)
        app.extensions["twofa"].service.store.dispose()


def example(tmp_path: Path, **config: Any) -> Flask:
    return create_app(
        {
            "USERS_DATABASE": str(tmp_path / "users.db"),
            "TWOFA_DATABASE_URL": f"sqlite:///{tmp_path}/twofa.db",
            "SECRET_KEY": SECRET_KEY,
            **config,
        }
    )


def enrolled(live: Live, user: str = "alice") -> tuple[ApiClient, Authenticator, FixedClock]:
    """``user`` registered through the example's API, with 2FA on."""
    clock = use_clock(live)
    client = ApiClient(live.url)
    client.register(user)
    app, _codes = client.enable(clock)
    return client, app, clock


def remember_cookie_only(live: Live, signed_in: requests.Session) -> requests.Session:
    """A returning browser: the remember cookie of ``signed_in``, and no other cookie."""
    returning = requests.Session()
    returning.cookies.set("remember_token", signed_in.cookies["remember_token"])
    return returning


def form_sign_in(live: Live, s: requests.Session, user: str, *, remember: bool, csrf: bool = False) -> None:
    data = {"username": user, "password": PASSWORD, "next": "/settings"}
    if remember:
        data["remember"] = "1"
    if csrf:
        data["csrf_token"] = csrf_of(s.get(live.url + "/login", headers=HTML).text)
    r = s.post(live.url + "/login", data=data, headers=HTML, allow_redirects=False)
    assert r.status_code == 302, r.text


def is_verify_redirect(r: requests.Response, next_path: str) -> bool:
    return r.status_code == 303 and r.headers["Location"] == f"/_2fa/verify?next={next_path}"


# -- remember me ------------------------------------------------------------------------------


def test_the_remember_cookie_alone_is_challenged_and_after_the_code_the_user_stays_in(tmp_path, serving):
    live = serving(example(tmp_path, WTF_CSRF_ENABLED=False))
    _client, authenticator, _clock = enrolled(live)
    browser = requests.Session()
    form_sign_in(live, browser, "alice", remember=True)
    assert "remember_token" in browser.cookies

    returning = remember_cookie_only(live, browser)
    # The bypass of issue 12: neither a page nor the API answers before the code.
    assert is_verify_redirect(returning.get(live.url + "/settings", headers=HTML, allow_redirects=False),
                              "/settings")
    r = returning.get(live.url + "/api/me", headers={"Accept": "application/json"}, allow_redirects=False)
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")
    # The challenge signed the browser in for Flask-Login with a fresh sign-in key,
    # so the verify page knows who it is.
    assert "session" in returning.cookies

    api = ApiClient(live.url)
    api.http = returning
    assert api.verify(authenticator.code()).status_code == 200
    for _ in range(3):  # in, and staying in
        assert (api.me().status_code, api.me().json()) == (200, {"user": "alice"})
        page = returning.get(live.url + "/settings", headers=HTML, allow_redirects=False)
        assert page.status_code == 200 and "Signed in as <strong>alice</strong>" in page.text

    # Dropping the session again is a new sign-in from the cookie: the code is owed again.
    again = remember_cookie_only(live, returning)
    assert is_verify_redirect(again.get(live.url + "/settings", headers=HTML, allow_redirects=False), "/settings")


def test_a_user_without_2fa_comes_back_on_the_remember_cookie_without_a_code(tmp_path, serving):
    live = serving(example(tmp_path, WTF_CSRF_ENABLED=False))
    ApiClient(live.url).register("bob")
    browser = requests.Session()
    form_sign_in(live, browser, "bob", remember=True)
    returning = remember_cookie_only(live, browser)
    r = returning.get(live.url + "/api/me", allow_redirects=False)
    assert (r.status_code, r.json()) == (200, {"user": "bob"})


def test_signing_out_ends_the_remember_cookie_too(tmp_path, serving):
    live = serving(example(tmp_path, WTF_CSRF_ENABLED=False))
    ApiClient(live.url).register("bob")
    browser = requests.Session()
    form_sign_in(live, browser, "bob", remember=True)
    browser.post(live.url + "/logout", headers=HTML)
    assert "remember_token" not in browser.cookies
    assert browser.get(live.url + "/api/me").status_code == 401


# -- Flask-Session -----------------------------------------------------------------------------


def test_server_side_sessions_from_flask_session_work_end_to_end(tmp_path, serving):
    app = example(tmp_path, WTF_CSRF_ENABLED=False, SESSION_TYPE="cachelib",
                  SESSION_CACHELIB=FileSystemCache(str(tmp_path / "sessions"), threshold=500))
    Session(app)  # after TwoFactor(app), as apps often do: the integration follows the switch
    live = serving(app)
    client, authenticator, _clock = enrolled(live)
    assert client.me().status_code == 200  # enrolled in this sign-in: past the second factor

    client.login()
    r = client.me()
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")
    assert client.verify(authenticator.code()).status_code == 200
    for _ in range(3):
        assert (client.me().status_code, client.me().json()) == (200, {"user": "alice"})

    # Another sign-in in the same browser: the server-side session gets a new id, so
    # whoever knew (or planted) the old one shares nothing of it (attacker's review);
    # and no pass is ever remembered by the Cookie header of a server-side session.
    bob = ApiClient(live.url)
    bob.register("bob")  # no 2FA
    assert bob.me().status_code == 200
    cookie_before = bob.http.cookies["session"]
    r = bob.request("POST", "/api/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200 and bob.http.cookies["session"] != cookie_before
    planted = ApiClient(live.url)
    planted.http.cookies.set("session", cookie_before)
    assert planted.me().json()["error"] == "not_signed_in"  # the old id is gone
    r = bob.me()
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")
    assert live.middleware.passes is None  # the middleware remembers nothing by Cookie header here
    assert bob.request("POST", "/api/logout").status_code == 200
    assert bob.me().json()["error"] == "not_signed_in"

    # The remember cookie works with server-side sessions as well.
    browser = requests.Session()
    form_sign_in(live, browser, "alice", remember=True)
    returning = remember_cookie_only(live, browser)
    assert is_verify_redirect(returning.get(live.url + "/settings", headers=HTML, allow_redirects=False),
                              "/settings")
    api = ApiClient(live.url)
    api.http = returning
    assert api.verify(authenticator.code()).status_code == 200
    assert (api.me().status_code, api.me().json()) == (200, {"user": "alice"})


class BreakableCache(FileSystemCache):
    """A session store that goes away when told."""

    broken = False

    def get(self, key: str) -> Any:
        if self.broken:
            raise ConnectionError("session store unreachable")
        return super().get(key)


def test_a_session_store_that_cannot_be_read_fails_closed(tmp_path, serving, caplog):
    cache = BreakableCache(str(tmp_path / "sessions"), threshold=500)
    app = example(tmp_path, WTF_CSRF_ENABLED=False, SESSION_TYPE="cachelib", SESSION_CACHELIB=cache)
    Session(app)
    live = serving(app)
    client, _authenticator, _clock = enrolled(live)
    assert client.me().status_code == 200
    cache.broken = True
    caplog.clear()
    assert client.me().status_code == 500  # the app cannot open its session: never served
    page = client.request("GET", "/_2fa/verify", headers=HTML)
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")  # the 2FA pages: nobody
    lines = [r.getMessage() for r in caplog.records if r.name == "twofa_middleware"]
    assert lines and all("session could not be opened" in line for line in lines)


# -- tokens ----------------------------------------------------------------------------------


def test_a_token_request_has_the_owner_as_flask_logins_current_user(tmp_path, serving):
    app = example(tmp_path, WTF_CSRF_ENABLED=False)
    seen: list[Any] = []

    @app.get("/whoami")
    def whoami() -> Any:
        seen.append(current_user._get_current_object())
        return jsonify(user=current_user.get_id() if current_user.is_authenticated else None)

    live = serving(app)
    alice, _authenticator, _clock = enrolled(live, "alice")
    alice.sudo()
    _token_id, token = alice.create_token("script")
    bob = ApiClient(live.url)
    bob.register("bob")

    r = bearer(live.url, token, "/whoami")
    assert (r.status_code, r.json()) == (200, {"user": "alice"})
    assert type(seen[-1]).__name__ == "User"  # the app's own user, from its user_loader
    # bob's session riding along changes nothing: a token request carries no session.
    r = requests.get(live.url + "/whoami", headers={"Authorization": f"Bearer {token}"},
                     cookies={"session": bob.http.cookies["session"]}, timeout=10)
    assert r.json() == {"user": "alice"}
    # A plain request sees no token owner.
    assert requests.get(live.url + "/whoami", timeout=10).json() == {"user": None}


# -- sign out from the verify page, under CSRFProtect ----------------------------------------------


def test_sign_out_on_the_verify_page_works_under_csrfprotect(tmp_path, serving):
    live = serving(example(tmp_path))  # the example's default: CSRFProtect on
    enrolled(live)
    browser = requests.Session()
    # CSRFProtect is on: the app's own forms need its token.
    r = browser.post(live.url + "/login", data={"username": "alice", "password": PASSWORD}, headers=HTML)
    assert r.status_code == 400
    form_sign_in(live, browser, "alice", remember=True, csrf=True)
    page = browser.get(live.url + "/settings", headers=HTML)
    assert page.url.startswith(live.url + "/_2fa/verify")
    match = re.search(r'<form method="post" action="([^"]+)" class="tf-signout">', page.text)
    assert match and match.group(1) == "/_2fa/sign-out"

    r = browser.post(live.url + "/_2fa/sign-out", data={"csrf_token": csrf_of(page.text)}, headers=HTML,
                     allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (303, "/login")
    assert "remember_token" not in browser.cookies
    assert browser.get(live.url + "/api/me").status_code == 401  # signed out, not owing a code
    r = browser.get(live.url + "/settings", headers=HTML, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")


def test_sign_out_needs_the_middlewares_csrf_token(tmp_path, serving):
    live = serving(example(tmp_path))
    enrolled(live)
    browser = requests.Session()
    form_sign_in(live, browser, "alice", remember=False, csrf=True)
    r = browser.post(live.url + "/_2fa/sign-out", data={}, headers=HTML, allow_redirects=False)
    assert r.status_code == 403
    assert browser.get(live.url + "/api/me").status_code == 401
    assert browser.get(live.url + "/api/me").json()["error"] == "two_factor_required"  # still signed in


# -- misconfigured: refused, never passed -------------------------------------------------------------


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id


USERS = ("alice", "bob")


def small_app(
    tmp_path: Path,
    *,
    twofa_first: bool = False,
    login_manager: bool = True,
    user_loader: bool = True,
    request_loader: Callable[[Any], Any] | None = None,
    **twofa: Any,
) -> Flask:
    """A Flask-Login app with a JSON sign-in (``remember`` optional) and ``/api/me``."""
    app = Flask("small")
    app.config.update(SECRET_KEY=SECRET_KEY)
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/small-twofa.db")

    def add_twofa() -> None:
        TwoFactor(app, store=store, check_password=lambda user, password: user in USERS and password == PASSWORD,
                  login_url="/login", **twofa)

    if twofa_first:
        add_twofa()
    if login_manager:
        manager = LoginManager(app)
        if user_loader:
            manager.user_loader(lambda user_id: User(user_id) if user_id in USERS else None)
        if request_loader is not None:
            manager.request_loader(request_loader)
    if not twofa_first:
        add_twofa()

    @app.post("/api/register")  # the ApiClient's first step: here, users exist already
    @app.post("/api/login")
    def api_login() -> Any:
        body = request.get_json()
        if body["username"] not in USERS or body["password"] != PASSWORD:
            return jsonify(error="invalid_credentials"), 401
        login_user(User(body["username"]), remember=bool(body.get("remember")))
        return jsonify(user=body["username"]), 201 if request.path.endswith("register") else 200

    @app.post("/api/logout")
    def api_logout() -> Any:
        logout_user()
        return jsonify(ok=True)

    @app.get("/api/me")
    def api_me() -> Any:
        if not current_user.is_authenticated:
            return jsonify(error="not_signed_in"), 401
        return jsonify(user=current_user.get_id())

    return app


def enable_2fa(tmp_path: Path, user: str) -> None:
    """Turn 2FA on for ``user`` in the small apps' store, through a correctly set up app."""
    app = small_app(tmp_path)
    client = app.test_client()
    clock = FixedClock(1_700_000_015.0)
    app.extensions["twofa"].service.clock = clock
    client.post("/api/login", json={"username": user, "password": PASSWORD})
    assert client.post("/_2fa/api/confirm-password", json={"password": PASSWORD}).status_code == 200
    secret = client.post("/_2fa/api/enroll", json={}).get_json()["secret"]
    code = Authenticator(secret, clock).code()
    assert client.post("/_2fa/api/enroll/confirm", json={"code": code}).status_code == 200
    app.extensions["twofa"].service.store.dispose()


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "twofa_middleware" and r.levelno >= logging.ERROR]


def test_a_user_key_that_is_not_flask_logins_is_refused_at_setup(tmp_path):
    with pytest.raises(ValueError, match="_user_id"):
        small_app(tmp_path, user_key="user_id")


def test_a_wrong_user_key_found_at_request_time_fails_closed_with_one_log_line(tmp_path, serving, caplog):
    """README's ``user_key="user_id"`` in a Flask-Login app set up after TwoFactor: issue 12's silent bypass."""
    enable_2fa(tmp_path, "alice")
    live = serving(small_app(tmp_path, twofa_first=True, user_key="user_id"))
    client = ApiClient(live.url, validate=False)
    caplog.clear()
    r = client.request("POST", "/api/login", json={"username": "alice", "password": PASSWORD})
    assert (r.status_code, r.json()["error"]) == (500, "two_factor_misconfigured")
    r = client.me()
    assert (r.status_code, r.json()["error"]) == (500, "two_factor_misconfigured")
    (first, second) = refusals(caplog)
    assert first == second and "user_key='user_id'" in first and "_user_id" in first


def test_flask_login_without_a_user_loader_fails_closed(tmp_path, serving, caplog):
    enable_2fa(tmp_path, "alice")
    live = serving(small_app(tmp_path, user_loader=False))
    client = ApiClient(live.url, validate=False)
    caplog.clear()
    r = client.request("POST", "/api/login", json={"username": "alice", "password": PASSWORD})
    assert (r.status_code, r.json()["error"]) == (500, "two_factor_misconfigured")
    assert client.me().status_code == 500
    assert len(refusals(caplog)) == 2 and "no user_loader" in refusals(caplog)[0]


def test_an_app_without_flask_login_set_up_fails_closed(tmp_path, serving, caplog):
    live = serving(small_app(tmp_path, login_manager=False))
    caplog.clear()
    r = requests.get(live.url + "/api/me", timeout=10)
    assert (r.status_code, r.json()["error"]) == (500, "two_factor_misconfigured")
    (line,) = refusals(caplog)
    assert "Flask-Login is not set up" in line


def test_a_user_signed_in_by_the_apps_own_request_loader_owes_the_code_and_is_refused(tmp_path, serving, caplog):
    """A channel the 2FA pages cannot see (a header here): never let through for a user with 2FA."""
    enable_2fa(tmp_path, "alice")

    def by_header(req: Any) -> User | None:
        name = req.headers.get("X-Debug-User")
        return User(name) if name in USERS else None

    live = serving(small_app(tmp_path, request_loader=by_header))
    caplog.clear()
    r = requests.get(live.url + "/api/me", headers={"X-Debug-User": "alice"}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (403, "two_factor_unavailable")
    (line,) = refusals(caplog)
    assert "'alice'" in line
    # bob has no 2FA: the app's channel is the app's business.
    r = requests.get(live.url + "/api/me", headers={"X-Debug-User": "bob"}, timeout=10)
    assert (r.status_code, r.json()) == (200, {"user": "bob"})


def test_the_small_app_remember_cookie_case_with_the_default_setup(tmp_path, serving):
    """The same guarantee without the example: any Flask-Login app, the remember cookie alone."""
    enable_2fa(tmp_path, "alice")
    live = serving(small_app(tmp_path))
    signed_in = requests.Session()
    r = signed_in.post(live.url + "/api/login", json={"username": "alice", "password": PASSWORD, "remember": True},
                       timeout=10)
    assert r.status_code == 200
    returning = remember_cookie_only(live, signed_in)
    r = returning.get(live.url + "/api/me", timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")


@pytest.mark.parametrize("twofa_first", [False, True], ids=["loader-before-twofactor", "loader-after-twofactor"])
def test_token_owners_and_the_apps_own_request_loader_both_work_in_either_order(tmp_path, serving, twofa_first):
    def by_header(req: Any) -> User | None:
        name = req.headers.get("X-Debug-User")
        return User(name) if name in USERS else None

    live = serving(small_app(tmp_path, twofa_first=twofa_first, request_loader=by_header))
    _record, token = live.middleware.service.tokens.create_token("alice", "script", 30, None)
    r = bearer(live.url, token, "/api/me")
    assert (r.status_code, r.json()) == (200, {"user": "alice"})
    r = requests.get(live.url + "/api/me", headers={"X-Debug-User": "bob"}, timeout=10)
    assert (r.status_code, r.json()) == (200, {"user": "bob"})
    assert requests.get(live.url + "/api/me", timeout=10).status_code == 401


def test_a_session_without_a_sign_in_key_gets_one_and_can_pass_the_second_factor(tmp_path):
    """A Flask-Login session made before TwoFactor (no ``_twofa_nonce``) was locked in a
    verify loop: each right code gave a verified cookie bound to no key (attacker's review).
    Now such a session starts a sign-in of its own on its first request."""
    app = create_app({"USERS_DATABASE": str(tmp_path / "u.db"), "TWOFA_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
                      "SECRET_KEY": SECRET_KEY, "WTF_CSRF_ENABLED": False})
    middleware = app.extensions["twofa"]
    clock = FixedClock(1_700_000_015.0)
    middleware.service.clock = clock
    app.extensions["example_users"].create("alice", PASSWORD)
    client = app.test_client()
    with client.session_transaction() as session:  # a sign-in from before the extension
        session["_user_id"] = "alice"
        session["_fresh"] = True
    assert client.get("/api/me").get_json() == {"user": "alice"}
    assert client.post("/_2fa/api/confirm-password", json={"password": PASSWORD}).status_code == 200
    totp = pyotp.TOTP(client.post("/_2fa/api/enroll", json={}).get_json()["secret"])
    assert client.post("/_2fa/api/enroll/confirm", json={"code": totp.at(clock())}).status_code == 200
    assert client.get("/api/me").get_json() == {"user": "alice"}  # enrolled in this sign-in
    middleware.service.store.dispose()

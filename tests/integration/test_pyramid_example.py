"""The Pyramid example and integration over a real server: the same pages and JSON
routes as the Flask example, a user signed in by another channel than the session,
tokens mapped to their owner, Sign out under Pyramid's CSRF protection, and
misconfiguration failing closed."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import requests
from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory

from tests.helpers import SECRET_KEY, LiveApp, alert_of, csrf_of, manual_key_of, serve
from twofa_middleware import SQLAlchemyStore
from twofa_middleware.integrations.pyramid import get_middleware

from .api_support import PASSWORD, ApiClient, bearer, use_clock
from .pyramid_support import HeaderPolicy, serve_example


@pytest.fixture
def pyramid_app(tmp_path) -> Iterator[LiveApp]:
    yield from serve_example(tmp_path)


def html_session() -> requests.Session:
    s = requests.Session()
    s.headers["Accept"] = "text/html"
    return s


def form_post(s: requests.Session, page: str, url: str, data: dict[str, str]) -> requests.Response:
    """Post a form the way a browser does: with the CSRF token of the page it is on."""
    return s.post(url, data={"csrf_token": csrf_of(s.get(page).text), **data})


def test_pyramid_user_enrolls_and_is_asked_for_a_code_at_the_next_sign_in(pyramid_app: LiveApp) -> None:
    url = pyramid_app.url
    s = html_session()
    r = form_post(s, url + "/register", url + "/register", {"username": "pat", "password": "pat-password-1"})
    assert "Signed in as" in r.text and "Set Up Two-Factor Authentication" in r.text

    r = s.get(url + "/_2fa/setup?next=/settings")
    r = s.post(url + "/_2fa/confirm-password", data={
        "csrf_token": csrf_of(r.text), "password": "pat-password-1", "next": "/_2fa/setup?next=/settings"})
    totp = pyotp.TOTP(manual_key_of(r.text))
    r = s.post(url + "/_2fa/setup", data={"csrf_token": csrf_of(r.text), "code": totp.now(), "next": "/settings"})
    assert "Save your recovery codes" in r.text
    r = s.post(url + "/_2fa/setup/recovery-codes",
               data={"csrf_token": csrf_of(r.text), "saved": "on", "next": "/settings"})
    assert "Two-factor authentication is enabled." in r.text

    assert s.post(url + "/logout").status_code == 400  # Pyramid's CSRF protection is on
    r = form_post(s, url + "/settings", url + "/logout", {})
    assert r.url == url + "/login"
    r = s.post(url + "/login", data={"csrf_token": csrf_of(r.text), "username": "pat",
                                     "password": "pat-password-1", "next": "/settings"})
    assert r.url.startswith(url + "/_2fa/verify")
    wrong_code = "000000" if totp.now() != "000000" else "111111"
    wrong = s.post(r.url, data={"csrf_token": csrf_of(r.text), "code": wrong_code, "next": "/settings"})
    assert wrong.status_code == 400 and "not valid" in alert_of(wrong.text)
    r = s.post(url + "/_2fa/verify",
               data={"csrf_token": csrf_of(r.text), "code": totp.at(time.time() + 30), "next": "/settings"})
    assert r.url == url + "/settings"
    assert "Two-factor authentication is enabled." in r.text and "Signed in as <strong>pat</strong>" in r.text


def test_json_flow_and_a_token_is_its_owner(pyramid_app: LiveApp) -> None:
    clock = use_clock(pyramid_app)
    alice = ApiClient(pyramid_app.url)
    alice.register("alice")
    assert alice.me().json() == {"user": "alice"}
    app, _ = alice.enable(clock)
    _, token = alice.create_token("script")

    alice.login()
    r = alice.me()
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    assert alice.verify(app.code()).status_code == 200
    assert alice.me().json() == {"user": "alice"}

    # The token is its owner, with no cookies and even beside someone else's session.
    assert bearer(pyramid_app.url, token, "/api/me").json() == {"user": "alice"}
    bob = ApiClient(pyramid_app.url)
    bob.register("bob")
    r = bob.request("GET", "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.json() == {"user": "alice"}
    assert bearer(pyramid_app.url, token + "x", "/api/me").status_code == 401


def _sign_in_remembered(url: str, user: str, app: Any) -> requests.Session:
    """The HTML sign-in with "Remember me" ticked, and the code: a fully signed-in browser."""
    s = html_session()
    r = s.get(url + "/login")
    r = s.post(url + "/login", data={"csrf_token": csrf_of(r.text), "username": user, "password": PASSWORD,
                                     "remember": "on", "next": "/settings"})
    assert r.url.startswith(url + "/_2fa/verify")
    r = s.post(url + "/_2fa/verify", data={"csrf_token": csrf_of(r.text), "code": app.code(), "next": "/settings"})
    assert r.url == url + "/settings"
    assert s.cookies.get("remember_me")
    return s


def test_a_user_signed_in_by_the_remember_me_cookie_is_challenged_then_stays_in(pyramid_app: LiveApp) -> None:
    clock = use_clock(pyramid_app)
    carol = ApiClient(pyramid_app.url)
    carol.register("carol")
    app, _ = carol.enable(clock)
    browser = _sign_in_remembered(pyramid_app.url, "carol", app)

    # A returning browser: the session is gone, the "Remember me" cookie signs carol in.
    returning = ApiClient(pyramid_app.url)
    returning.http.cookies.set("remember_me", browser.cookies.get("remember_me"))
    r = returning.me()
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    r = returning.request("GET", "/settings", headers={"Accept": "text/html"})
    assert r.status_code == 303 and "/_2fa/verify" in r.headers["Location"]
    assert "session" in returning.http.cookies  # this sign-in got its own key

    assert returning.verify(app.code()).status_code == 200
    assert returning.me().json() == {"user": "carol"}
    assert returning.me().json() == {"user": "carol"}  # and stays in

    # Beside a signed-in session, the session is who the policy says is signed in.
    dave = ApiClient(pyramid_app.url)
    dave.register("dave")
    dave.http.cookies.set("remember_me", browser.cookies.get("remember_me"))
    assert dave.me().json() == {"user": "dave"}  # the session wins, as the policy says


def test_sign_out_from_the_verify_page_works_under_pyramid_csrf(pyramid_app: LiveApp) -> None:
    clock = use_clock(pyramid_app)
    erin = ApiClient(pyramid_app.url)
    erin.register("erin")
    erin.enable(clock)

    s = html_session()
    r = s.get(pyramid_app.url + "/login")
    r = s.post(pyramid_app.url + "/login", data={"csrf_token": csrf_of(r.text), "username": "erin",
                                                 "password": PASSWORD, "remember": "on"})
    assert r.url.startswith(pyramid_app.url + "/_2fa/verify")
    action = re.search(r'<form method="post" action="([^"]+)" class="tf-signout">', r.text)
    assert action and action.group(1) == "/_2fa/sign-out"
    r = s.post(pyramid_app.url + action.group(1), data={"csrf_token": csrf_of(r.text)}, allow_redirects=False)
    assert r.status_code in (302, 303) and r.headers["Location"].endswith("/login")
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_me=;") for c in cookies), cookies  # forget()'s headers
    assert any(c.startswith("session=") for c in cookies), cookies  # the invalidated session
    assert "remember_me" not in s.cookies
    r = s.get(pyramid_app.url + "/api/me", headers={"Accept": "application/json"})
    assert r.status_code == 401 and r.json() == {"error": "not_signed_in"}


# -- misconfiguration fails closed -----------------------------------------------------------



class BrokenSessionFactory:
    def __call__(self, request: Any) -> Any:
        raise RuntimeError("the session backend is down")


def _small_app(tmp_path: Any, *, session: bool = True, configure: bool = True, session_factory: Any = None) -> Any:
    config = Configurator()
    if session:
        config.set_session_factory(session_factory or SignedCookieSessionFactory(SECRET_KEY))
    config.set_security_policy(HeaderPolicy())
    config.add_route("me", "/me")
    config.add_view(lambda request: Response(str(request.authenticated_userid)), route_name="me")
    config.include("twofa_middleware.integrations.pyramid")
    if configure:
        config.configure_twofa(secret_key=SECRET_KEY, store=SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db"),
                               check_password=lambda user, password: True)
    return config.make_wsgi_app()


def _enable(middleware: Any, user: str) -> pyotp.TOTP:
    totp = pyotp.TOTP(middleware.service.enrollment(user).secret)
    middleware.service.confirm_enrollment(user, totp.now())
    return totp


@pytest.fixture
def served() -> Iterator[Any]:
    running: list[tuple[Any, Any, Any]] = []

    def start(app: Any) -> str:
        url, server, thread = serve(app)
        running.append((app, server, thread))
        return url

    yield start
    for app, server, thread in running:
        server.shutdown()
        thread.join(5)
        get_middleware(app.registry).service.store.dispose()


def test_a_user_signed_in_by_another_policy_channel_is_challenged(tmp_path: Any, served: Any) -> None:
    app = _small_app(tmp_path)
    _enable(get_middleware(app.registry), "frank")
    url = served(app)
    r = requests.get(url + "/me", headers={"X-User": "frank", "Accept": "application/json"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    r = requests.get(url + "/me", headers={"X-User": "grace"}, timeout=10)
    assert r.status_code == 200 and r.text == "grace"  # no 2FA: passes


@pytest.mark.parametrize("broken", ["no session factory", "include without configure_twofa"])
def test_misconfiguration_stops_the_app_at_startup(tmp_path: Any, broken: str, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, "twofa_middleware")
    with pytest.raises(ConfigurationError):
        _small_app(tmp_path, session=broken != "no session factory",
                   configure=broken != "include without configure_twofa")
    lines = [r.getMessage() for r in caplog.records if r.name == "twofa_middleware"]
    assert len(lines) == 1 and lines[0].startswith("twofa: ") and "not started" in lines[0]


def test_an_unreadable_session_or_a_replaced_policy_is_refused(tmp_path: Any, served: Any, caplog: Any) -> None:
    caplog.set_level(logging.ERROR, "twofa_middleware")
    app = _small_app(tmp_path, session_factory=BrokenSessionFactory())
    url = served(app)
    r = requests.get(url + "/me", headers={"X-User": "heidi", "Accept": "application/json"}, timeout=10)
    assert r.status_code == 500 and r.json()["error"] == "two_factor_misconfigured"
    assert requests.get(url + "/me", timeout=10).text == "None"  # nobody signed in: nothing to protect
    assert any("session cannot be read" in r.getMessage() for r in caplog.records)

    caplog.clear()
    app2 = _small_app(tmp_path / "..", session=True)
    url2 = served(app2)
    app2.registry.registerUtility(HeaderPolicy(), ISecurityPolicy)  # behind the integration's back
    r = requests.get(url2 + "/me", headers={"X-User": "ivan", "Accept": "application/json"}, timeout=10)
    assert r.status_code == 500 and r.json()["error"] == "two_factor_misconfigured"
    assert [r.getMessage() for r in caplog.records] == [
        "twofa: the security policy was replaced after configure_twofa; request refused"]

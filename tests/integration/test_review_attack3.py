"""The attacker's third review: commit 71ceb14's short cut for requests without cookies.

The short cut trusts the label ``CookieKeyedIdentify`` ("the answer depends on the
Cookie header alone") to mean "no Cookie header, nobody signed in". The deprecated
``session_identify(app)`` hands a *server-side* Flask session interface a
``SessionIdentify``, a ``CookieKeyedIdentify`` subclass, although it opens the session
with the app's own interface, which may find the session anywhere (here: a header,
as APIs for mobile clients and SPAs do). Before the commit such a request went to
identify and decide(): the user with 2FA on was challenged. Now it is let in as
nobody, and the app serves the signed-in user's data without the second factor.

In process (werkzeug's test client), no server, no sleeps.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.identity import CookieKeyedIdentify

SESSIONS: dict[str, dict[str, Any]] = {"sid-of-alice": {"user_id": "alice", "login_nonce": "nonce-of-alice"}}


class _ServerSession(CallbackDict, SessionMixin):  # type: ignore[type-arg, misc]
    pass


class HeaderSessionInterface(SessionInterface):
    """A server-side session found by the ``X-Session-Id`` header (a token-style session for API clients)."""

    def open_session(self, app: Flask, request: Any) -> SessionMixin:
        return _ServerSession(SESSIONS.get(request.headers.get("X-Session-Id", ""), {}))

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        return None


def _protected_app() -> tuple[Flask, TwoFactorMiddleware]:
    app = Flask("attack3")
    app.config["SECRET_KEY"] = SECRET_KEY
    app.session_interface = HeaderSessionInterface()

    @app.get("/reports")
    def reports() -> Any:
        # The app's own notion of who is signed in: its session.
        return {"secret_reports_of": session.get("user_id")}

    store = SQLAlchemyStore("sqlite://")
    store.enable("alice", "enc-secret", 1, [("hash", "enc")], 1_700_000_000.0)  # alice has 2FA on
    identify = session_identify(app)  # the documented (deprecated) adapter
    middleware = TwoFactorMiddleware(
        app.wsgi_app, secret_key=SECRET_KEY, store=store, identify=identify,
        check_password=lambda user_id, password: False,
    )
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app, middleware


def test_deprecated_session_identify_on_a_server_side_session_is_labelled_cookie_keyed():
    """The root: the label is put on an identify that reads whatever the session interface reads."""
    app, middleware = _protected_app()
    try:
        assert isinstance(middleware.identify, CookieKeyedIdentify)
        assert not getattr(middleware.identify, "keyed_by_cookie", True)  # it even says so itself...
        assert middleware.passes is not None  # ...yet the middleware takes it at its label
        # and it does see alice without any Cookie header:
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/reports", "SERVER_NAME": "x", "SERVER_PORT": "80",
                   "wsgi.url_scheme": "http", "HTTP_X_SESSION_ID": "sid-of-alice"}
        assert middleware.identify(environ) is not None
    finally:
        middleware.service.store.dispose()


def test_a_cookieless_request_with_a_header_session_gets_past_the_second_factor():
    """GET /reports, X-Session-Id: sid-of-alice, no Cookie header.

    decide() would challenge alice (2FA on, no verified cookie); the short cut lets the
    request in as nobody, and the app serves alice's reports."""
    app, middleware = _protected_app()
    try:
        client = Client(app, use_cookies=False)  # the Cookie header as written
        # What decide() answers for this very request (the short cut skipped, as any cookie does):
        with_cookie = client.get("/reports", headers={"X-Session-Id": "sid-of-alice", "Cookie": "unrelated=1"})
        assert b"secret_reports_of" not in with_cookie.data  # challenged: the second factor is owed
        # The same request without cookies:
        response = client.get("/reports", headers={"X-Session-Id": "sid-of-alice"})
        assert b"alice" not in response.data, (
            f"short cut let alice in without 2FA: {response.status} {response.data!r}"
        )
    finally:
        middleware.service.store.dispose()


def test_the_same_mislabel_lets_a_remembered_pass_cover_another_users_header_session():
    """Not 71ceb14's doing (its parent fails this too), the same root: the pass cache is keyed
    by the Cookie header, but this identify reads the session from X-Session-Id.

    GET /reports, Cookie: unrelated=1, X-Session-Id: sid-of-bob (2FA off): a pass, remembered
    under "unrelated=1". Then the same Cookie with X-Session-Id: sid-of-alice (2FA on) is
    answered from that pass and the app serves alice's reports without the second factor."""
    SESSIONS["sid-of-bob"] = {"user_id": "bob", "login_nonce": "nonce-of-bob"}
    app, middleware = _protected_app()
    try:
        client = Client(app, use_cookies=False)
        first = client.get("/reports", headers={"X-Session-Id": "sid-of-bob", "Cookie": "unrelated=1"})
        assert b"bob" in first.data
        response = client.get("/reports", headers={"X-Session-Id": "sid-of-alice", "Cookie": "unrelated=1"})
        assert b"alice" not in response.data, (
            f"bob's remembered pass let alice in without 2FA: {response.status} {response.data!r}"
        )
    finally:
        middleware.service.store.dispose()

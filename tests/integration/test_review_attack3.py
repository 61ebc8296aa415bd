"""The attacker's third review: commit 71ceb14's short cut for requests without cookies.

The short cut trusted the label ``CookieKeyedIdentify`` ("the answer depends on the
Cookie header alone") to mean "no Cookie header, nobody signed in". The deprecated
``session_identify(app)`` handed a *server-side* Flask session interface a
``SessionIdentify``, a ``CookieKeyedIdentify`` subclass, although it opens the session
with the app's own interface, which may find the session anywhere (here: a header,
as APIs for mobile clients and SPAs do): such a request was let in as nobody, and
the app served the signed-in user's data without the second factor. The same label
let a pass remembered by the Cookie header cover another user's header session
(older than the short cut). Fixed: the middleware asks ``keyed_by_cookie`` before it
answers from the header, and the deprecated adapter is ``SessionIdentify`` for every
interface, so a later switch of interface counts too.

In process (werkzeug's test client), no server, no sleeps.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, session
from flask.sessions import SessionInterface
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.identity import CookieKeyedIdentify

from .header_sessions import SESSIONS, HeaderSessionInterface


def _protected_app(interface: type[SessionInterface] = HeaderSessionInterface,
                   after: bool = False) -> tuple[Flask, TwoFactorMiddleware]:
    """The app with its session in ``interface``, set before the middleware is built (or after it)."""
    app = Flask("attack3")
    app.config["SECRET_KEY"] = SECRET_KEY
    if not after:
        app.session_interface = interface()

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
    if after:
        assert middleware.passes is not None  # on Flask's signed cookie until now
        app.session_interface = interface()
    return app, middleware


def test_an_identify_that_says_it_no_longer_reads_the_cookie_alone_gets_no_pass_cache():
    """The root: the deprecated adapter labels an identify that reads whatever the session
    interface reads; the middleware now believes its ``keyed_by_cookie``, not its class."""
    _, middleware = _protected_app()
    try:
        assert isinstance(middleware.identify, CookieKeyedIdentify)
        assert not middleware.identify.keyed_by_cookie
        assert middleware.passes is None
    finally:
        middleware.service.store.dispose()


def test_a_session_interface_swapped_after_start_up_ends_the_short_cuts():
    """The app starts on Flask's signed cookie (so the pass cache is on), then moves its session
    to the header: a cookieless request naming alice's session is challenged, and passes are
    never kept by the Cookie header again."""
    app, middleware = _protected_app(HeaderSessionInterface, after=True)
    try:
        client = Client(app, use_cookies=False)
        response = client.get("/reports", headers={"X-Session-Id": "sid-of-alice"})
        assert b"alice" not in response.data, f"{response.status} {response.data!r}"
        assert middleware.passes is None
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

"""The attacker's fourth review: commits 71ceb14 (the cookieless short cut) and dfbaa90
(``keyed_by_cookie`` asked on each request through ``_cookie_passes()``). Both findings
are fixed; the tests hold the fixes.

In process (werkzeug's test client), no server, no sleeps: the one thread test pauses
a request at a chosen point with events, so the interleaving is deterministic.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, session
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.decision import Refuse

from .header_sessions import HeaderSessionInterface


def _protected_app() -> tuple[Flask, TwoFactorMiddleware]:
    """On Flask's signed cookie at start-up; alice has 2FA on, bob (who signs in at
    /sign-in/bob) has not."""
    app = Flask("attack4")
    app.config["SECRET_KEY"] = SECRET_KEY

    @app.get("/sign-in/<user>")
    def sign_in(user: str) -> str:
        session["user_id"] = user
        session["login_nonce"] = f"nonce-of-{user}"
        return "ok"

    @app.get("/reports")
    @app.get("/<path:anything>")
    def reports(anything: str = "") -> Any:
        return {"secret_reports_of": session.get("user_id"), "path": anything}

    store = SQLAlchemyStore("sqlite://")
    store.enable("alice", "enc-secret", 1, [("hash", "enc")], 1_700_000_000.0)
    middleware = TwoFactorMiddleware(
        app.wsgi_app, secret_key=SECRET_KEY, store=store, identify=session_identify(app),
        check_password=lambda user_id, password: False, exempt_paths=["/sign-in"],
    )
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app, middleware


def _bobs_cookie(app: Flask) -> str:
    browser = Client(app)
    browser.get("/sign-in/bob")
    cookie = browser.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}"


def test_a_request_holding_the_pass_cache_across_the_swap_serves_a_header_session_on_a_stale_pass():
    """Finding 1 (thread safety of _cookie_passes, deprecated adapter, no in-app guard).

    1. GET /reports, Cookie: session=<bob's signed cookie>: bob (2FA off) passes; the
       pass is remembered under that Cookie header.
    2. Thread T1: GET /reports, the same Cookie, X-Session-Id: sid-of-alice. __call__
       asks _cookie_passes() (still Flask's signed cookie: the cache) and is preempted
       before passes.get() (here: paused there).
    3. The app moves its session to the header interface; another request T2 sees the
       switch and drops the pass cache "for good" (middleware.passes is None).
    4. T1 resumes: passes.get() returns bob's pass, the app opens the session with the
       *new* interface and serves alice's reports. decide() would have challenged alice.
    The cache reference T1 took before the switch outlived the switch. Fixed: the drop
    empties the cache too, so T1's look-up finds nothing and alice is challenged.
    """
    app, middleware = _protected_app()
    try:
        bob = _bobs_cookie(app)
        client = Client(app, use_cookies=False)
        first = client.get("/reports", headers={"Cookie": bob})
        assert first.json == {"secret_reports_of": "bob", "path": ""}
        assert middleware.passes is not None and len(middleware.passes) == 1

        passes = middleware.passes
        real_get = passes.get
        in_window, go = threading.Event(), threading.Event()

        def paused_get(cookie: str) -> Any:
            if threading.current_thread().name == "T1":
                in_window.set()
                assert go.wait(5)
            return real_get(cookie)

        passes.get = paused_get  # type: ignore[method-assign]
        result: dict[str, Any] = {}
        t1 = threading.Thread(
            name="T1",
            target=lambda: result.update(r=client.get("/reports", headers={"Cookie": bob,
                                                                         "X-Session-Id": "sid-of-alice"})),
        )
        t1.start()
        assert in_window.wait(5)
        app.session_interface = HeaderSessionInterface()  # the switch
        t2 = client.get("/reports", headers={"X-Session-Id": "sid-of-alice"})
        assert b"alice" not in t2.data  # T2, after the switch: challenged
        assert middleware.passes is None  # "for good"
        go.set()
        t1.join(5)
        response = result["r"]
        assert b"alice" not in response.data, (
            f"a pass taken before the switch served alice's header session without 2FA: "
            f"{response.status} {response.data!r}"
        )
    finally:
        middleware.service.store.dispose()


def test_a_remembered_cookie_pass_holds_on_a_dot_segment_path_that_decide_refuses():
    """Finding 2 (pre-existing, the same short cut's sibling): the token branch of __call__
    skips its remembered pass on a path with "/." (decide() refuses it: 400
    ambiguous_request), the cookie branch does not.

    GET /reports, Cookie: session=<bob's>  -> pass, remembered.
    GET /files/./reports, the same Cookie -> the middleware passes it to the app, while
    _decide() (identify + decide()) answers Refuse(400, "ambiguous_request")."""
    app, middleware = _protected_app()
    try:
        bob = _bobs_cookie(app)
        client = Client(app, use_cookies=False)
        assert client.get("/reports", headers={"Cookie": bob}).status_code == 200
        path = "/files/./reports"
        environ = {"PATH_INFO": path, "HTTP_COOKIE": bob, "REQUEST_METHOD": "GET"}
        decided = middleware._decide(dict(environ), path, None)
        assert isinstance(decided, Refuse) and decided.code == "ambiguous_request"
        # decision() (ForwardAuth's question) judges such a path afresh too.
        assert isinstance(middleware.decision(dict(environ), path), Refuse)
        response = client.get(path, headers={"Cookie": bob})
        assert response.status_code == 400, f"remembered pass on a dot path: {response.status} {response.data!r}"
    finally:
        middleware.service.store.dispose()

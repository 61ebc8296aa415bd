"""A request without cookies, when identify reads the Cookie header alone, is nobody's.

The middleware then answers with decide()'s pass for nobody without asking
identify or the store (the cost of an anonymous request is one header look-up);
these tests hold that short cut to what decide() says, over a real server.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, request

from tests.helpers import SECRET_KEY, serve
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.identity import Identity


def _app(identify_by_header: bool) -> tuple[Flask, TwoFactorMiddleware]:
    app = Flask("anonymous")
    app.config["SECRET_KEY"] = SECRET_KEY

    @app.get("/<path:anything>")
    @app.get("/")
    def show(anything: str = "") -> Any:
        info = request.environ["twofa"]
        return {"user": info.user_id, "enabled": info.enabled, "verified": info.verified}

    def by_header(environ: dict[str, Any]) -> Identity | None:
        user = environ.get("HTTP_X_USER")
        return Identity(user, "") if user else None

    middleware = TwoFactorMiddleware(
        app.wsgi_app, secret_key=SECRET_KEY, store=SQLAlchemyStore("sqlite://"),
        identify=by_header if identify_by_header else session_identify(app),
        check_password=lambda user_id, password: False,
    )
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return app, middleware


@pytest.fixture(params=[False, True], ids=["cookie identify", "header identify"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    """The app's URL, and whether its identify reads a header (True) or the session cookie."""
    app, middleware = _app(request.param)
    url, server, thread = serve(app)
    try:
        yield url, request.param
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)
        middleware.service.store.dispose()


def _get(url: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:  # http.client sends the path as written: "/a/./b" stays ambiguous
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("headers", [{}, {"Cookie": ""}], ids=["no Cookie header", "an empty one"])
def test_a_request_without_cookies_reaches_the_app_as_nobody(served, headers):
    url, _ = served
    status, body = _get(url, "/reports", headers)
    assert status == 200
    assert json.loads(body) == {"user": None, "enabled": False, "verified": False}


def test_a_request_without_cookies_and_an_ambiguous_path_is_refused(served):
    url, _ = served
    status, body = _get(url, "/reports/./secret", {})
    assert status == 400 and b"ambiguous_request" in body


def test_an_identify_that_reads_more_than_cookies_is_still_asked_without_them(served):
    """The short cut is only for an identify that reads the Cookie header alone: a user named
    by another header is that user, with 2FA off (no store row), not nobody."""
    url, identify_by_header = served
    status, body = _get(url, "/reports", {"X-User": "alice"})
    assert status == 200
    assert json.loads(body)["user"] == ("alice" if identify_by_header else None)

"""How the Flask integration's ``identify`` reads sessions of any interface, without HTTP."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from cachelib import FileSystemCache
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask_session import Session

from twofa_middleware import Identity
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.integrations.flask import SessionIdentify

KEY = "unit-test-secret-key-0123456789abcdef"


def app_with_login_route(**config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=KEY, **config)

    @app.get("/sign-in/<user>")
    def sign_in(user: str) -> str:
        session["_user_id"] = user
        session["_twofa_nonce"] = f"nonce-of-{user}"
        return "ok"

    return app


def session_cookie_after_sign_in(app: Flask, user: str) -> dict[str, Any]:
    client = app.test_client()
    client.get(f"/sign-in/{user}")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return {"HTTP_COOKIE": f"session={cookie.value}", "PATH_INFO": "/", "REQUEST_METHOD": "GET",
            "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}


def test_flasks_signed_cookie_is_decoded_and_cached_by_its_value():
    app = app_with_login_route()
    identify = SessionIdentify(app, "_user_id", "_twofa_nonce", 5.0)
    environ = session_cookie_after_sign_in(app, "alice")
    assert identify.keyed_by_cookie
    assert identify(environ) == Identity("alice", "nonce-of-alice")
    assert len(identify.cache) == 1
    forged = {**environ, "HTTP_COOKIE": environ["HTTP_COOKIE"][:-3] + "xyz"}
    assert identify(forged) is None
    assert len(identify.cache) == 1  # forged cookies are not kept


def test_a_server_side_session_is_opened_by_its_interface_and_never_cached_by_cookie(tmp_path: Path):
    app = app_with_login_route(SESSION_TYPE="cachelib", SESSION_CACHELIB=FileSystemCache(str(tmp_path)))
    identify = SessionIdentify(app, "_user_id", "_twofa_nonce", 5.0)
    assert identify.keyed_by_cookie  # still Flask's own interface...
    Session(app)  # ...until Flask-Session takes over, after the integration was set up
    assert not identify.keyed_by_cookie  # the middleware asks this before it answers from the header
    environ = session_cookie_after_sign_in(app, "alice")
    assert identify(environ) == Identity("alice", "nonce-of-alice")
    assert len(identify.cache) == 0


def test_the_deprecated_session_identify_reads_flask_session_instead_of_failing(tmp_path: Path):
    """Issue 12: every signed-in request was a 500 ('... has no attribute get_signing_serializer')."""
    app = app_with_login_route(SESSION_TYPE="cachelib", SESSION_CACHELIB=FileSystemCache(str(tmp_path)))
    Session(app)
    identify = session_identify(app, user_key="_user_id", nonce_key="_twofa_nonce")
    assert not getattr(identify, "keyed_by_cookie", False)
    assert identify(session_cookie_after_sign_in(app, "bob")) == Identity("bob", "nonce-of-bob")


class BrokenInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Any) -> Any:
        raise ConnectionError("session store unreachable")


def test_a_session_that_cannot_be_opened_is_nobody_with_one_log_line(caplog: pytest.LogCaptureFixture):
    app = app_with_login_route()
    environ = session_cookie_after_sign_in(app, "alice")
    app.session_interface = BrokenInterface()
    identify = SessionIdentify(app, "_user_id", "_twofa_nonce", 5.0)
    with caplog.at_level(logging.ERROR, logger="twofa_middleware"):
        assert identify(environ) is None
    (record,) = [r for r in caplog.records if r.name == "twofa_middleware"]
    assert "(ConnectionError)" in record.getMessage()
    assert "unreachable" not in record.getMessage()  # a backend's message may carry the session id
    assert record.exc_info is None  # one line, no traceback

"""Pyramid resolves ``..`` in the path itself (traversal, and the ``*subpath`` of a
route), after the middleware compared PATH_INFO with its prefixes: an exempt
prefix (``/logout``) or a token's path limit covered a request that Pyramid served
with a view elsewhere in the tree (found by the attacker's review). The one
decision now refuses dot segments before any prefix is compared.
"""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.session import SignedCookieSessionFactory

from tests.helpers import SECRET_KEY, serve
from twofa_middleware import SQLAlchemyStore
from twofa_middleware.integrations.pyramid import get_middleware

from .pyramid_support import HeaderPolicy


def secret_view(request: Any) -> Response:
    return Response(f"SECRET of {request.authenticated_userid}")


def traversal_app(tmp_path: Any) -> Any:
    """An ordinary Pyramid app: a route for /logout, and a traversal view (``@view_config(name="secret")``)."""
    config = Configurator()
    config.set_session_factory(SignedCookieSessionFactory(SECRET_KEY))
    config.set_security_policy(HeaderPolicy())
    config.add_route("logout", "/logout")
    config.add_view(lambda request: Response("bye"), route_name="logout")
    config.add_view(secret_view, name="secret")  # traversal: /secret on the default root
    config.include("twofa_middleware.integrations.pyramid")
    config.configure_twofa(secret_key=SECRET_KEY, store=SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db"),
                           check_password=lambda user, password: True, exempt_paths=("/logout", "/static/"))
    return config.make_wsgi_app()


def raw_get(url: str, path: str, **headers: str) -> tuple[int, str]:
    """A GET with the path sent exactly as written (clients would remove the dot segments)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


@pytest.fixture
def app_url(tmp_path: Any) -> Any:
    app = traversal_app(tmp_path)
    middleware = get_middleware(app.registry)
    totp = pyotp.TOTP(middleware.service.enrollment("frank").secret)
    middleware.service.confirm_enrollment("frank", totp.now())
    url, server, thread = serve(app)
    yield url, middleware
    server.shutdown()
    thread.join(5)
    middleware.service.store.dispose()


def test_baseline_the_secret_view_needs_the_second_factor(app_url: Any) -> None:
    url, _ = app_url
    status, _body = raw_get(url, "/secret", **{"X-User": "frank", "Accept": "application/json"})
    assert status == 401


@pytest.mark.parametrize("path", ["/logout/../secret", "/logout/%2e%2e/secret", "/static/../secret"])
def test_an_exempt_prefix_with_dot_segments_never_reaches_a_view_without_the_second_factor(
    app_url: Any, path: str
) -> None:
    url, _ = app_url
    status, body = raw_get(url, path, **{"X-User": "frank", "Accept": "application/json"})
    assert status == 400 and "ambiguous_request" in body
    assert "SECRET" not in body


def test_a_token_limited_to_a_path_never_reaches_a_view_outside_it(app_url: Any) -> None:
    url, middleware = app_url
    _record, token = middleware.service.tokens.create_token("frank", "reports only", 30, ["/reports"])
    status, _ = raw_get(url, "/secret", Authorization=f"Bearer {token}")
    assert status == 401
    status, body = raw_get(url, "/reports/../secret", Authorization=f"Bearer {token}")
    assert status == 400 and "SECRET" not in body

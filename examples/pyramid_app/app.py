"""A small Pyramid app with its own users, protected by the Pyramid integration.

It shares the Flask example's user store, pages and wording, so the two
examples differ only where the frameworks do: the signed-in user comes from a
Pyramid security policy (the session, or a "Remember me" cookie), forms carry
Pyramid's CSRF token, and two-factor authentication is set up with
``config.include("twofa_middleware.integrations.pyramid")`` and one directive.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pyramid.authentication import AuthTktCookieHelper
from pyramid.config import Configurator
from pyramid.csrf import get_csrf_token
from pyramid.events import NewResponse
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.router import Router
from pyramid.security import forget, remember
from pyramid.session import SignedCookieSessionFactory

from examples.flask_app.app import DEV_SECRET_KEY, UserStore, safe_next, validate_credentials, with_next
from twofa_middleware import SQLAlchemyStore

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / "flask_app"
ROUTES = {
    "home": "/", "login": "/login", "register": "/register", "logout": "/logout", "settings": "/settings",
    "api_register": "/api/register", "api_login": "/api/login", "api_me": "/api/me", "api_logout": "/api/logout",
}
REMEMBER_SECONDS = 30 * 24 * 3600


class SessionSecurityPolicy:
    """The signed-in user is whoever the session says, else a "Remember me" cookie.

    The second channel is what most apps grow: a returning browser with only the
    long-lived cookie is signed in without the session. The integration treats
    that as a new sign-in, which owes the second factor.
    """

    def __init__(self, secret: str) -> None:
        self.remember_me = AuthTktCookieHelper(
            secret, cookie_name="remember_me", max_age=REMEMBER_SECONDS, http_only=True,
            samesite="Lax", hashalg="sha512",
        )

    def identity(self, request: Request) -> str | None:
        user = request.session.get("user_id")
        if isinstance(user, str) and user:
            return user
        ticket = self.remember_me.identify(request)
        return str(ticket["userid"]) if ticket else None

    def authenticated_userid(self, request: Request) -> str | None:
        identity = request.identity  # through the registered (wrapped) policy: a token's owner too
        return identity if isinstance(identity, str) else None

    def permits(self, request: Request, context: Any, permission: str) -> bool:
        return request.authenticated_userid is not None

    def remember(self, request: Request, userid: str, remember_me: bool = False, **kw: Any) -> list[tuple[str, str]]:
        request.session.invalidate()
        request.session["user_id"] = userid
        return self.remember_me.remember(request, userid) if remember_me else []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        request.session.invalidate()
        return self.remember_me.forget(request)  # type: ignore[no-any-return]


def _templates() -> Environment:
    # The Flask example's pages: the same labels, forms and CSRF field (``csrf_token()``).
    env = Environment(loader=FileSystemLoader(SHARED / "templates"), autoescape=select_autoescape(default=True))

    def url_for(endpoint: str, filename: str = "") -> str:
        return f"/static/{filename}" if endpoint == "static" else ROUTES[endpoint]

    env.globals["url_for"] = url_for
    return env


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json", charset="utf-8")


def _security_headers(event: NewResponse) -> None:
    headers = event.response.headers
    headers.setdefault(
        "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")


def make_app(settings: dict[str, Any] | None = None, *, twofa: dict[str, Any] | None = None) -> Router:
    """Build the Pyramid example, two-factor authentication included.

    :param settings: ``secret_key``, ``users_database``, ``twofa_database_url``.
    :param twofa: extra keywords for ``configure_twofa`` (tests).
    """
    settings = {
        "secret_key": os.environ.get("SECRET_KEY") or DEV_SECRET_KEY,
        "users_database": os.environ.get("EXAMPLE_USERS_DB") or os.path.abspath("example_users.db"),
        "twofa_database_url": os.environ.get("TWOFA_DATABASE_URL") or "sqlite:///twofa.db",
        **(settings or {}),
    }
    users = UserStore(settings["users_database"])
    users.init_schema()
    templates = _templates()

    def render(request: Request, name: str, status: int = 200, **values: Any) -> Response:
        html = templates.get_template(name).render(
            current_user=request.authenticated_userid, csrf_token=lambda: get_csrf_token(request),
            offer_remember_me=True, **values
        )
        response = Response(html, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    def sign_in(request: Request, username: str, remember_me: bool = False) -> list[tuple[str, str]]:
        # The integration wraps the policy: remember() also starts a new 2FA sign-in.
        return remember(request, username, remember_me=remember_me)  # type: ignore[no-any-return]

    def home(request: Request) -> Response:
        return render(request, "home.html")

    def register(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "register.html", error=None, username="")
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        error = validate_credentials(username, password)
        if error is None and not users.create(username, password):
            error = "That username is already taken."
        if error is not None:
            return render(request, "register.html", 400, error=error, username=username)
        return HTTPSeeOther("/settings", headers=sign_in(request, username))

    def login(request: Request) -> Response:
        next_path = safe_next(request.params.get("next"))
        if request.method == "GET":
            return render(request, "login.html", error=None, username="", next_path=next_path)
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        if not username or not password or not users.check_password(username, password):
            return render(request, "login.html", 401, error="Incorrect username or password.",
                          username=username, next_path=next_path)
        headers = sign_in(request, username, remember_me=bool(request.POST.get("remember")))
        return HTTPSeeOther(next_path, headers=headers)

    def logout(request: Request) -> Response:
        return HTTPSeeOther("/login", headers=forget(request))

    def settings_page(request: Request) -> Response:
        if request.authenticated_userid is None:
            return HTTPSeeOther(with_next("/login", "/settings"))
        info = request.environ.get("twofa")
        links = {name: with_next(url, "/settings") for name, url in info.urls.items()} if info else {}
        return render(request, "settings.html", twofa=info, links=links)

    # -- JSON API: no form can send JSON cross-site, so the API takes no CSRF token --

    def credentials(request: Request) -> tuple[str, str] | Response:
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return _json({"error": "forbidden"}, 403)
        if request.content_type != "application/json":
            return _json({"error": "unsupported_media_type"}, 415)
        try:
            body = request.json_body
        except ValueError:
            return _json({"error": "invalid_request"}, 400)
        username = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(username, str) or not isinstance(password, str):
            return _json({"error": "invalid_request"}, 400)
        username = username.strip()
        if validate_credentials(username, password) is not None:
            return _json({"error": "invalid_request"}, 400)
        return username, password

    def api_register(request: Request) -> Response:
        given = credentials(request)
        if isinstance(given, Response):
            return given
        username, password = given
        if not users.create(username, password):
            return _json({"error": "user_exists"}, 409)
        response = _json({"user": username}, 201)
        response.headerlist.extend(sign_in(request, username))
        return response

    def api_login(request: Request) -> Response:
        given = credentials(request)
        if isinstance(given, Response):
            return given
        username, password = given
        if not users.check_password(username, password):
            return _json({"error": "invalid_credentials"}, 401)
        response = _json({"user": username})
        response.headerlist.extend(sign_in(request, username))
        return response

    def api_me(request: Request) -> Response:
        user = request.authenticated_userid  # a personal access token's owner, too
        if user is None:
            return _json({"error": "not_signed_in"}, 401)
        return _json({"user": user})

    def api_logout(request: Request) -> Response:
        response = _json({"ok": True})
        response.headerlist.extend(forget(request))
        return response

    with Configurator(settings={"twofa.secret_key": settings["secret_key"]}) as config:
        config.set_session_factory(
            SignedCookieSessionFactory(
                settings["secret_key"], httponly=True, samesite="Lax", hashalg="sha512", timeout=None
            )
        )
        config.set_security_policy(SessionSecurityPolicy(settings["secret_key"]))
        config.set_default_csrf_options(require_csrf=True)
        for name, path in ROUTES.items():
            config.add_route(name, path)
        config.add_view(home, route_name="home")
        config.add_view(register, route_name="register", request_method=("GET", "POST"))
        config.add_view(login, route_name="login", request_method=("GET", "POST"))
        config.add_view(logout, route_name="logout", request_method="POST")
        config.add_view(settings_page, route_name="settings")
        config.add_view(api_register, route_name="api_register", request_method="POST", require_csrf=False)
        config.add_view(api_login, route_name="api_login", request_method="POST", require_csrf=False)
        config.add_view(api_me, route_name="api_me", request_method="GET")
        config.add_view(api_logout, route_name="api_logout", request_method="POST", require_csrf=False)
        config.add_static_view("static", str(SHARED / "static"))
        config.add_subscriber(_security_headers, NewResponse)

        config.include("twofa_middleware.integrations.pyramid")
        config.configure_twofa(
            store=SQLAlchemyStore(settings["twofa_database_url"]),
            check_password=users.check_password,
            issuer="Example App (Pyramid)",
            exempt_paths=("/logout", "/static/", "/api/logout"),
            home_url="/settings",
            login_url="/login",
            logout_url="/logout",
            **(twofa or {}),
        )
        app: Router = config.make_wsgi_app()
    app.registry.settings["example_users"] = users
    return app

"""A small Pyramid app with its own users, wrapped with TwoFactorMiddleware.

It shares the Flask example's user store, page templates and wording, so the
two examples differ only where the frameworks do: here the signed-in user comes
from a Pyramid security policy, which the middleware asks through
``security_policy_identify``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import forget, remember
from pyramid.session import SignedCookieSessionFactory

from examples.flask_app.app import DEV_SECRET_KEY, UserStore, safe_next, validate_credentials, with_next
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.pyramid import security_policy_identify

SHARED = Path(__file__).resolve().parent.parent / "flask_app"
ROUTES = {"home": "/", "login": "/login", "register": "/register", "logout": "/logout", "settings": "/settings"}


class SessionSecurityPolicy:
    """The signed-in user is whoever the session says; sign-in sets it."""

    def identity(self, request: Request) -> str | None:
        user = request.session.get("user_id")
        return user if isinstance(user, str) and user else None

    def authenticated_userid(self, request: Request) -> str | None:
        return self.identity(request)

    def permits(self, request: Request, context: Any, permission: str) -> bool:
        return self.identity(request) is not None

    def remember(self, request: Request, userid: str, **kw: Any) -> list[tuple[str, str]]:
        request.session.invalidate()
        request.session["user_id"] = userid
        request.session["login_nonce"] = secrets.token_urlsafe(16)  # a new sign-in for the middleware
        return []

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        request.session.invalidate()
        return []


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(SHARED / "templates"), autoescape=select_autoescape(default=True))

    def url_for(endpoint: str, filename: str = "") -> str:
        return f"/static/{filename}" if endpoint == "static" else ROUTES[endpoint]

    env.globals["url_for"] = url_for
    return env


def make_app(settings: dict[str, Any] | None = None) -> TwoFactorMiddleware:
    """Build the Pyramid example wrapped with the middleware.

    :param settings: ``secret_key``, ``users_database``, ``twofa_database_url``.
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
        html = templates.get_template(name).render(current_user=request.authenticated_userid, **values)
        response = Response(html, status=status, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

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
        remember(request, username)
        return HTTPSeeOther("/settings")

    def login(request: Request) -> Response:
        next_path = safe_next(request.params.get("next"))
        if request.method == "GET":
            return render(request, "login.html", error=None, username="", next_path=next_path)
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        if not username or not password or not users.check_password(username, password):
            return render(request, "login.html", 401, error="Incorrect username or password.",
                          username=username, next_path=next_path)
        remember(request, username)
        return HTTPSeeOther(next_path)

    def logout(request: Request) -> Response:
        forget(request)
        return HTTPSeeOther("/login")

    def settings_page(request: Request) -> Response:
        if request.authenticated_userid is None:
            return HTTPSeeOther(with_next("/login", "/settings"))
        info = request.environ.get("twofa")
        links = {name: with_next(url, "/settings") for name, url in info.urls.items()} if info else {}
        return render(request, "settings.html", twofa=info, links=links)

    with Configurator() as config:
        config.set_session_factory(
            SignedCookieSessionFactory(
                settings["secret_key"], httponly=True, samesite="Lax", hashalg="sha512", timeout=None
            )
        )
        config.set_security_policy(SessionSecurityPolicy())
        for name, path in ROUTES.items():
            config.add_route(name, path)
        config.add_view(home, route_name="home")
        config.add_view(register, route_name="register", request_method=("GET", "POST"))
        config.add_view(login, route_name="login", request_method=("GET", "POST"))
        config.add_view(logout, route_name="logout", request_method="POST")
        config.add_view(settings_page, route_name="settings")
        config.add_static_view("static", str(SHARED / "static"))
        registry = config.registry
        app = config.make_wsgi_app()

    return TwoFactorMiddleware(
        app,
        secret_key=settings["secret_key"],
        store=SQLAlchemyStore(settings["twofa_database_url"]),
        identify=security_policy_identify(registry),
        check_password=users.check_password,
        issuer="Example App (Pyramid)",
        exempt_paths=("/logout", "/static/"),
        home_url="/settings",
        login_url="/login",
        logout_url="/logout",
    )

"""A small Flask app with its own users, wrapped with TwoFactorMiddleware.

The app knows nothing about TOTP: it signs users in with a password, keeps
who is signed in in Flask's session, and links to the middleware's pages from
its settings. Everything about the second factor happens in the middleware.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify

# Only for local development: anyone reading this file can forge sessions with it.
DEV_SECRET_KEY = "dev-only-INSECURE-secret-key-do-not-use-in-production"

MAX_USERNAME_LENGTH = 64
MAX_PASSWORD_LENGTH = 1024

F = TypeVar("F", bound=Callable[..., Any])


class UserStore:
    """Users in a SQLite file, with a connection per operation.

    A fresh connection per call keeps the store safe under threaded servers
    without sharing a connection between threads.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._dummy_hash: str | None = None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """Open a connection, commit on success, and always close it."""
        conn = sqlite3.connect(self.path, timeout=10)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def init_schema(self) -> None:
        """Create the users table if it does not exist yet."""
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS users ("
                " username TEXT PRIMARY KEY,"
                " password_hash TEXT NOT NULL)"
            )

    def exists(self, username: str) -> bool:
        """True when a user of that name exists."""
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
        return row is not None

    def create(self, username: str, password: str) -> bool:
        """Add a user; False when the name is already taken."""
        password_hash = generate_password_hash(password)
        try:
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO users (username, password_hash) VALUES (?, ?)",
                    (username, password_hash),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def check_password(self, username: str, password: str) -> bool:
        """True when ``password`` is the user's password.

        An unknown user still costs one hash check, so response times do not
        tell which usernames exist.
        """
        with self._connect() as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE username = ?", (username,)
            ).fetchone()
        if row is None:
            if self._dummy_hash is None:
                self._dummy_hash = generate_password_hash(secrets.token_urlsafe(16))
            check_password_hash(self._dummy_hash, password)
            return False
        return check_password_hash(row[0], password)


def safe_next(value: str | None, default: str = "/settings") -> str:
    """A local path to go to after sign-in, never another site.

    Accepts only paths starting with one "/" ("//host" and "/\\host" are
    other sites to browsers) and with no control characters, which browsers
    strip before parsing ("/\\t/host" would become "//host").
    """
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        return default
    return value


def with_next(url: str, next_path: str) -> str:
    """``url`` with a ``next`` query parameter, so the middleware brings the user back."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}next={quote(next_path, safe='/')}"


def current_user() -> str | None:
    """The owner of the personal access token the request used, else the session's user.

    The middleware sets ``REMOTE_USER`` for token-authenticated requests; it is
    trusted only when the middleware's info says a token was used, and then the
    session is ignored, so a token can never lend its 2FA exemption to a session.
    """
    info = request.environ.get("twofa")
    if info is not None and getattr(info, "token_id", None) is not None:
        remote_user = request.environ.get("REMOTE_USER")
        return remote_user if isinstance(remote_user, str) and remote_user else None
    user = session.get("user_id")
    return user if isinstance(user, str) and user else None


def sign_in(username: str) -> None:
    """Start a fresh session for the user.

    The new nonce makes every sign-in a new one to the middleware, which binds
    its "second factor verified" state to it.
    """
    session.clear()
    session["user_id"] = username
    session["login_nonce"] = secrets.token_urlsafe(16)


def login_required(view: F) -> F:
    """Send signed-out visitors to the sign-in page, then back here."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(with_next("/login", request.path))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def validate_credentials(username: Any, password: Any) -> str | None:
    """Why these credentials cannot be used, or None when they look fine."""
    if not isinstance(username, str) or not isinstance(password, str):
        return "Username and password are required."
    if not username or not password:
        return "Username and password are required."
    if len(username) > MAX_USERNAME_LENGTH:
        return f"Usernames are at most {MAX_USERNAME_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Passwords are at most {MAX_PASSWORD_LENGTH} characters."
    if not username.isprintable():
        return "Usernames cannot contain control characters."
    return None


def _json_credentials() -> tuple[str, str] | Response:
    """The username and password of a JSON API request, or the error response."""
    if not request.is_json:
        return _json_error("unsupported_media_type", 415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _json_error("invalid_request", 400)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return _json_error("invalid_request", 400)
    username = username.strip()
    if validate_credentials(username, password) is not None:
        return _json_error("invalid_request", 400)
    return username, password


def _json_error(error: str, status: int) -> Response:
    """A ``{"error": ...}`` response, the API's one error shape."""
    response = jsonify(error=error)
    response.status_code = status
    return response


def _default_config() -> dict[str, Any]:
    """Settings from the environment, with local-development defaults."""
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or DEV_SECRET_KEY,
        "USERS_DATABASE": os.environ.get("EXAMPLE_USERS_DB") or os.path.abspath("example_users.db"),
        "TWOFA_DATABASE_URL": os.environ.get("TWOFA_DATABASE_URL") or "sqlite:///twofa.db",
        "TWOFA_ISSUER": "Example App",
        # How long each process trusts its cached 2FA state: the time another
        # instance's change (2FA turned off, say) may take to be seen here.
        "TWOFA_CACHE_SECONDS": float(os.environ.get("TWOFA_CACHE_SECONDS") or 5),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the example app, wrapped with the two-factor middleware.

    :param config: overrides for the settings read from the environment
        (``SECRET_KEY``, ``USERS_DATABASE``, ``TWOFA_DATABASE_URL``, ``TWOFA_ISSUER``,
        ``TWOFA_CACHE_SECONDS``...).
    """
    app = Flask(__name__)
    app.config.update(_default_config())
    if config:
        app.config.update(config)

    users = UserStore(app.config["USERS_DATABASE"])
    users.init_schema()
    app.extensions["example_users"] = users

    @app.context_processor
    def inject_user() -> dict[str, Any]:
        return {"current_user": current_user()}

    @app.before_request
    def reject_cross_origin_posts() -> Response | None:
        """Refuse state-changing requests a browser says come from another site.

        SameSite=Lax cookies already keep the session out of them; this also
        stops cross-site sign-in forms (login CSRF).
        """
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc != request.host or parts.scheme != request.scheme:
            if request.path.startswith("/api/"):
                return _json_error("forbidden", 403)
            return Response("Cross-site request refused.", 403, mimetype="text/plain")
        return None

    @app.after_request
    def security_headers(response: Response) -> Response:
        """A strict policy: the pages use no inline scripts or styles."""
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_user() is not None:
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def api_errors_as_json(error: HTTPException) -> Any:
        """JSON errors for API clients, Flask's usual pages elsewhere."""
        if request.path.startswith("/api/") and (error.code or 500) >= 400:
            name = (error.name or "error").lower().replace(" ", "_")
            return _json_error(name, error.code or 500)
        return error

    # ----- HTML pages -------------------------------------------------------

    @app.get("/")
    def home() -> str:
        return render_template("home.html")

    @app.route("/register", methods=["GET", "POST"])
    def register() -> Any:
        if request.method == "GET":
            return render_template("register.html", error=None, username="")
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        error = validate_credentials(username, password)
        if error is None and not users.create(username, password):
            error = "That username is already taken."
        if error is not None:
            return render_template("register.html", error=error, username=username), 400
        sign_in(username)
        return redirect("/settings")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        next_path = safe_next(request.values.get("next"))
        if request.method == "GET":
            return render_template("login.html", error=None, username="", next_path=next_path)
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        if not username or not password or not users.check_password(username, password):
            error = "Incorrect username or password."
            page = render_template("login.html", error=error, username=username, next_path=next_path)
            return page, 401
        sign_in(username)
        return redirect(next_path)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect("/login")

    @app.get("/settings")
    @login_required
    def settings() -> str:
        info = request.environ.get("twofa")
        links: dict[str, str] = {}
        if info is not None:
            links = {name: with_next(url, "/settings") for name, url in info.urls.items()}
        return render_template("settings.html", twofa=info, links=links)

    # ----- JSON API ---------------------------------------------------------

    @app.post("/api/register")
    def api_register() -> Any:
        credentials = _json_credentials()
        if isinstance(credentials, Response):
            return credentials
        username, password = credentials
        if not users.create(username, password):
            return _json_error("user_exists", 409)
        sign_in(username)
        return jsonify(user=username), 201

    @app.post("/api/login")
    def api_login() -> Any:
        credentials = _json_credentials()
        if isinstance(credentials, Response):
            return credentials
        username, password = credentials
        if not users.check_password(username, password):
            return _json_error("invalid_credentials", 401)
        sign_in(username)
        return jsonify(user=username)

    @app.get("/api/me")
    def api_me() -> Any:
        user = current_user()
        if user is None:
            return _json_error("not_signed_in", 401)
        return jsonify(user=user)

    @app.post("/api/logout")
    def api_logout() -> Any:
        session.clear()
        return jsonify(ok=True)

    # ----- Two-factor authentication -----------------------------------------

    app.wsgi_app = TwoFactorMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        secret_key=app.config["SECRET_KEY"],
        store=SQLAlchemyStore(app.config["TWOFA_DATABASE_URL"]),
        identify=session_identify(app, user_key="user_id", nonce_key="login_nonce"),
        check_password=users.check_password,
        issuer=app.config["TWOFA_ISSUER"],
        cache_seconds=app.config["TWOFA_CACHE_SECONDS"],
        exempt_paths=("/logout", "/static/", "/api/logout"),
        home_url="/settings",
        login_url="/login",
        logout_url="/logout",
    )
    app.extensions["twofa"] = app.wsgi_app

    return app

"""A small Flask app with its own users, signed in with Flask-Login, guarded by TwoFactor.

The app knows nothing about TOTP: it signs users in with a password (and an
optional "Remember me" cookie) through Flask-Login, protects its forms with
Flask-WTF's CSRFProtect, and links to the 2FA pages from its settings. The
Flask integration does the rest: it serves the pages under ``/_2fa``, binds the
second factor to each Flask-Login sign-in, and guards every request for the
user Flask-Login resolved (the session, the remember cookie, a personal access
token's owner).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.security import check_password_hash, generate_password_hash

from twofa_middleware import SQLAlchemyStore
from twofa_middleware.integrations.flask import TwoFactor

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
        """Create the users table if it does not exist yet.

        A table from before registration dates were kept gets the column, and
        its users count as registered now (a grace period starts for them today)."""
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS users ("
                " username TEXT PRIMARY KEY,"
                " password_hash TEXT NOT NULL,"
                " created_at REAL)"
            )
            columns = [row[1] for row in conn.execute("PRAGMA table_info(users)")]
            if "created_at" not in columns:
                conn.execute("ALTER TABLE users ADD COLUMN created_at REAL")
            conn.execute("UPDATE users SET created_at = ? WHERE created_at IS NULL", (time.time(),))

    def exists(self, username: str) -> bool:
        """True when a user of that name exists."""
        with self._connect() as conn:
            row = conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone()
        return row is not None

    def create(self, username: str, password: str, created_at: float | None = None) -> bool:
        """Add a user, registered at ``created_at`` (seconds since the epoch; default now);
        False when the name is already taken."""
        password_hash = generate_password_hash(password)
        try:
            with self._connect() as conn:
                conn.execute(
                    "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                    (username, password_hash, time.time() if created_at is None else created_at),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    def created_at(self, username: str) -> float | None:
        """When the user registered (seconds since the epoch), None for no such user."""
        with self._connect() as conn:
            row = conn.execute("SELECT created_at FROM users WHERE username = ?", (username,)).fetchone()
        return None if row is None else float(row[0])

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


class User(UserMixin):
    """A user of the example: the username is the id (Flask-Login's and the 2FA store's)."""

    def __init__(self, username: str) -> None:
        self.id = username


def sign_in(username: str, remember: bool = False) -> None:
    """Start a fresh session for the user through Flask-Login.

    Its ``user_logged_in`` signal gives the sign-in a new key, to which the
    2FA integration binds its "second factor verified" state.
    """
    session.clear()
    login_user(User(username), remember=remember)


def sign_out() -> None:
    """End the Flask-Login sign-in (and its remember cookie), drop the rest of the session."""
    logout_user()
    remember = session.get("_remember")  # "clear": Flask-Login deletes the remember cookie
    session.clear()
    if remember is not None:
        session["_remember"] = remember


def login_required(view: F) -> F:
    """Send signed-out visitors to the sign-in page, then back here."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
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


def enroll_banner(info: Any, path: str) -> dict[str, Any] | None:
    """What the "set up 2FA within N days" banner shows, when the user is in a grace period."""
    days = getattr(info, "enroll_days_left", None)
    if days is None:
        return None
    return {"days": days, "setup_url": with_next(info.urls["setup"], path)}


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


def enroll_within(users: UserStore, days: float | None) -> Callable[[str], datetime | None] | None:
    """The ``enroll_by`` setting for "set up 2FA within ``days`` of registering" (None: 2FA is optional)."""
    if days is None:
        return None

    known: dict[str, float] = {}  # registration dates never change: one lookup per user and process

    def enroll_by(username: str) -> datetime | None:
        registered = known.get(username)
        if registered is None:
            registered = users.created_at(username)
            if registered is None:
                return datetime.fromtimestamp(0, UTC)  # not one of ours: no grace
            if len(known) < 100_000:
                known[username] = registered
        return datetime.fromtimestamp(registered, UTC) + timedelta(days=days)

    return enroll_by


def _optional_float(value: str | None) -> float | None:
    return None if value is None or value.strip() == "" else float(value)


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
        # With PostgreSQL, other instances are told of each change at once; "0" leaves
        # them to the cache time alone.
        "TWOFA_INSTANT_INVALIDATION": os.environ.get("TWOFA_INSTANT_INVALIDATION", "1") != "0",
        # Unset: 2FA is each user's choice. A number of days: every user must set
        # it up within that many days of registering (0: at once).
        "TWOFA_ENROLL_WITHIN_DAYS": _optional_float(os.environ.get("TWOFA_ENROLL_WITHIN_DAYS")),
        # "Remember this browser for N days" on the verify page; 0 turns it off.
        "TWOFA_REMEMBER_DAYS": int(os.environ.get("TWOFA_REMEMBER_DAYS") or 30),
        # The 2FA pages in this app's own layout (templates/twofa_layout.html); 0: their built-in look.
        "TWOFA_APP_LAYOUT": os.environ.get("TWOFA_APP_LAYOUT", "1") != "0",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "MAX_CONTENT_LENGTH": 64 * 1024,
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the example app, with Flask-Login, CSRFProtect and two-factor authentication.

    :param config: overrides for the settings read from the environment
        (``SECRET_KEY``, ``USERS_DATABASE``, ``TWOFA_DATABASE_URL``, ``TWOFA_ISSUER``,
        ``TWOFA_CACHE_SECONDS``, ``TWOFA_INSTANT_INVALIDATION``, ``TWOFA_ENROLL_WITHIN_DAYS``,
        ``TWOFA_REMEMBER_DAYS``, ``TWOFA_APP_LAYOUT``, ``WTF_CSRF_ENABLED``...).
    """
    app = Flask(__name__)
    app.config.update(_default_config())
    if config:
        app.config.update(config)

    users = UserStore(app.config["USERS_DATABASE"])
    users.init_schema()
    app.extensions["example_users"] = users

    login_manager = LoginManager(app)

    @login_manager.user_loader
    def load_user(username: str) -> User | None:
        return User(username) if users.exists(username) else None

    @app.context_processor
    def template_values() -> dict[str, Any]:
        """The templates (shared with the Pyramid example) take the signed-in user's name."""
        return {
            "current_user": current_user.id if current_user.is_authenticated else None,
            "offer_remember_me": True,
            "enroll_banner": enroll_banner(request.environ.get("twofa"), request.path),
        }

    # The HTML forms carry Flask-WTF's CSRF token; the JSON API is exempted below
    # (it takes only application/json, and cross-site requests are refused by Origin).
    csrf = CSRFProtect(app)

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
        if current_user.is_authenticated:
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
        sign_in(username, remember=request.form.get("remember") == "1")
        return redirect(next_path)

    @app.post("/logout")
    def logout() -> Any:
        sign_out()
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
        # A personal access token's owner is current_user too (the integration's request loader).
        if not current_user.is_authenticated:
            return _json_error("not_signed_in", 401)
        return jsonify(user=current_user.id)

    @app.post("/api/logout")
    def api_logout() -> Any:
        sign_out()
        return jsonify(ok=True)

    for view in (api_register, api_login, api_logout):
        csrf.exempt(view)

    # ----- Two-factor authentication -----------------------------------------

    # The 2FA pages render inside templates/layout.html, like the app's own pages.
    layout: dict[str, Any] = {}
    if app.config["TWOFA_APP_LAYOUT"]:
        layout = {"template_folder": os.path.join(app.root_path, "templates"), "base_template": "twofa_layout.html"}
    TwoFactor(
        app,
        store=SQLAlchemyStore(app.config["TWOFA_DATABASE_URL"]),
        check_password=users.check_password,
        issuer=app.config["TWOFA_ISSUER"],
        cache_seconds=app.config["TWOFA_CACHE_SECONDS"],
        instant_invalidation=app.config["TWOFA_INSTANT_INVALIDATION"],
        enroll_by=enroll_within(users, app.config["TWOFA_ENROLL_WITHIN_DAYS"]),
        remember_days=app.config["TWOFA_REMEMBER_DAYS"] or None,
        exempt_paths=("/logout", "/static/", "/api/logout"),
        home_url="/settings",
        login_url="/login",
        logout_url="/logout",
        **layout,
    )  # app.extensions["twofa"] is the middleware

    return app

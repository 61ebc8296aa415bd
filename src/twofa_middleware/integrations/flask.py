"""Two-factor authentication for Flask apps, in the Flask style.

.. code-block:: python

    login_manager = LoginManager(app)              # the app's own Flask-Login setup
    TwoFactor(app, check_password=users.check_password, login_url="/login", logout_url="/logout")

What it sets up:

- the WSGI middleware (the 2FA pages and API under ``/_2fa``, the request flow),
  as ``app.extensions["twofa"]``; its ``identify`` opens the session with the
  app's own session interface, so any interface works (Flask's signed cookie,
  Flask-Session's server-side stores);
- a fresh sign-in key on every Flask-Login sign-in: ``user_logged_in`` and
  ``user_loaded_from_cookie`` (remember me) put a new random nonce in the
  session, ``user_logged_out`` removes it; the verified state is bound to it;
- an in-app guard (the first ``before_request`` hook) that resolves the app's
  own user (Flask-Login's ``current_user``: the session, the remember cookie,
  a request loader) and takes the middleware's decision for *that* user: a
  user the app signed in by any channel owes the second factor in that sign-in,
  and a misconfiguration refuses the request with one log line, never passes it;
- a Flask-Login ``request_loader`` that makes a personal access token's owner
  the ``current_user`` of a token request;
- ``sign_out`` for the verify page, so its "Sign out" ends the Flask-Login
  sign-in without going through the app's (CSRF-protected) logout view.

One :class:`TwoFactor` serves one app.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.wrappers import Response

from ..cache import TTLCache
from ..cookies import read_cookie
from ..crypto import SecretKey
from ..decision import Pass, Refuse
from ..i18n import N_
from ..identity import CheckPasswordFunc, CookieKeyedIdentify, Identity, TwoFactorInfo
from ..middleware import TwoFactorMiddleware
from ..store import SQLAlchemyStore
from ..store.base import Store

log = logging.getLogger("twofa_middleware")

FLASK_LOGIN_KEY = "_user_id"  # where Flask-Login keeps the signed-in user's id
_FLASK_LOGIN_SESSION_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")

# Longer session cookies are decoded each time rather than kept: nobody can
# make the cache hold much memory.
MAX_CACHED_COOKIE = 4096


class Misconfigured(Exception):
    """The integration cannot tell who the app signed in: every request is refused."""


def flask_login_module() -> ModuleType | None:
    """Flask-Login, when it is installed."""
    try:
        return importlib.import_module("flask_login")
    except ImportError:
        return None


def _by_token(environ: dict[str, Any]) -> bool:
    info = environ.get("twofa")
    return isinstance(info, TwoFactorInfo) and info.token_id is not None


def _current_user() -> Any:
    from flask_login import current_user  # present: the app has a login_manager

    return current_user._get_current_object()


def signed_cookie_interface(app: Flask) -> bool:
    """The app keeps its session in Flask's own signed cookie (not a subclass, not a server-side store)."""
    return type(app.session_interface) is SecureCookieSessionInterface


def decode_signed_session(app: Flask, value: str) -> tuple[Mapping[str, Any], float] | None:
    """The data of Flask's signed session cookie ``value`` and when it stops being valid; None if forged or old."""
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    if serializer is None:
        return None
    max_age = int(app.permanent_session_lifetime.total_seconds())
    try:
        data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    return data, signed_at.timestamp() + max_age


def open_session_data(app: Flask, environ: dict[str, Any]) -> Mapping[str, Any]:
    """The request's session as the app itself opens it, through its session interface.

    Works for any interface (Flask-Session's included), outside the app's own
    request handling: the middleware's pages run before Flask sees the request.
    """
    with app.request_context(environ) as ctx:
        return dict(ctx.session or {})


def identity_from(data: Mapping[str, Any], user_key: str, nonce_key: str, expires_at: float | None) -> Identity | None:
    user = data.get(user_key)
    if user is None or user == "":
        return None
    nonce = data.get(nonce_key)
    return Identity(str(user), nonce if isinstance(nonce, str) else "", expires_at)


class SessionIdentify(CookieKeyedIdentify):
    """The middleware's ``identify``: ``session[user_key]`` and ``session[nonce_key]``.

    With Flask's signed cookie the session is decoded with the app's serializer
    and cached by the raw cookie value for a few seconds (a verified request
    then costs a dictionary lookup); any other interface is asked to open the
    session in a request context of its own, uncached, since a server-side
    session can change while its cookie does not. A session that cannot be
    opened is logged and read as nobody: the app's own request then fails too,
    and the in-app guard refuses any user it signs in.
    """

    def __init__(self, app: Flask, user_key: str, nonce_key: str, cache_seconds: float) -> None:
        self.sessions: TTLCache[str, Identity] = TTLCache(ttl=cache_seconds, maxsize=20_000)
        super().__init__(self._identify_request, self.sessions)
        self.app = app
        self.user_key = user_key
        self.nonce_key = nonce_key

    @property
    def keyed_by_cookie(self) -> bool:
        """The answer depends on the ``Cookie`` header alone (only for the signed-cookie session)."""
        return signed_cookie_interface(self.app)

    def _identify_request(self, environ: dict[str, Any]) -> Identity | None:
        if signed_cookie_interface(self.app):
            return self._from_cookie(environ)
        try:
            data = open_session_data(self.app, environ)
        except Exception as exc:  # noqa: BLE001 - any interface's failure: read as nobody, never as a user
            # The exception's type only: a session backend's message may carry the session id.
            log.error("twofa: the Flask session could not be opened (%s); read as signed out", type(exc).__name__)
            return None
        return identity_from(data, self.user_key, self.nonce_key, None)

    def _from_cookie(self, environ: dict[str, Any]) -> Identity | None:
        value = read_cookie(environ, self.app.config["SESSION_COOKIE_NAME"])
        if not value:
            return None
        identity = self.sessions.get(value)
        if identity is None:
            decoded = decode_signed_session(self.app, value)
            if decoded is None:
                return None
            identity = identity_from(decoded[0], self.user_key, self.nonce_key, decoded[1])
            # Only signed-in sessions are kept: forged or signed-out cookies would
            # let anyone fill the cache.
            if identity is not None and len(value) <= MAX_CACHED_COOKIE:
                self.sessions.set(value, identity, ttl=decoded[1] - time.time())
        return identity


class TwoFactor:
    """The Flask extension: ``TwoFactor(app, check_password=...)`` or ``init_app(app)`` later.

    :param store: where 2FA state lives; default ``SQLAlchemyStore(app.config["TWOFA_DATABASE_URL"])``
        (``sqlite:///twofa.db`` when unset).
    :param check_password: ``check_password(user_id, password) -> bool``, ``user_id``
        being what Flask-Login's ``user.get_id()`` returns.
    :param secret_key: default ``app.config["SECRET_KEY"]``.
    :param nonce_key: the session key of the sign-in nonce this extension keeps.
    :param user_key: the session key holding the signed-in user's id. Leave it
        unset with Flask-Login (its key is ``_user_id``; another one is refused);
        set it only for an app without Flask-Login, whose own code then puts a
        fresh ``session[nonce_key]`` at every sign-in.
    :param settings: any :class:`~twofa_middleware.Settings` field (``issuer``,
        ``login_url``, ``logout_url``, ``exempt_paths``, ``cache_seconds``...).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: Store | None = None,
        check_password: CheckPasswordFunc,
        secret_key: SecretKey | Sequence[SecretKey] | None = None,
        nonce_key: str = "_twofa_nonce",
        user_key: str | None = None,
        **settings: Any,
    ) -> None:
        self.store = store
        self.check_password = check_password
        self.secret_key = secret_key
        self.nonce_key = nonce_key
        self.user_key = user_key
        self.settings = settings
        self.app: Flask | None = None
        self.flask_login = flask_login_module()
        self._request_loader: Callable[[Any], Any] | None = None
        if app is not None:
            self.init_app(app)

    @property
    def middleware(self) -> TwoFactorMiddleware:
        if self.app is None:
            raise RuntimeError("TwoFactor.init_app(app) was not called")
        middleware: TwoFactorMiddleware = self.app.extensions["twofa"]
        return middleware

    @property
    def session_user_key(self) -> str:
        return self.user_key if self.user_key is not None else FLASK_LOGIN_KEY

    def init_app(self, app: Flask) -> None:
        if self.app is not None:
            raise RuntimeError("one TwoFactor serves one app: make another for this one")
        if self.user_key is None and self.flask_login is None:
            raise RuntimeError("TwoFactor needs Flask-Login (pip install flask-login), or user_key= for a "
                               "session key the app sets itself")
        login_manager = getattr(app, "login_manager", None)
        if login_manager is not None and self.session_user_key != FLASK_LOGIN_KEY:
            raise ValueError(f"this app signs users in with Flask-Login, which keeps them in "
                             f"session[{FLASK_LOGIN_KEY!r}]: leave user_key unset (it was {self.user_key!r})")
        secret_key = self.secret_key if self.secret_key is not None else app.config.get("SECRET_KEY")
        if not secret_key:
            raise RuntimeError("TwoFactor needs secret_key= or app.config['SECRET_KEY']")
        store = self.store
        if store is None:
            store = SQLAlchemyStore(app.config.get("TWOFA_DATABASE_URL") or "sqlite:///twofa.db")
        self.app = app
        identify = SessionIdentify(app, self.session_user_key, self.nonce_key,
                                   float(self.settings.get("cache_seconds", 5.0)))
        middleware = TwoFactorMiddleware(
            app.wsgi_app,
            secret_key=secret_key,
            store=store,
            identify=identify,
            check_password=self.check_password,
            **{"sign_out": self.sign_out, **self.settings},
        )
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions["twofa"] = middleware
        # First of all before_request hooks: nothing of the app runs for a user owing the code.
        app.before_request_funcs.setdefault(None, []).insert(0, self.guard)
        if self.flask_login is not None:
            signals = self.flask_login.signals
            signals.user_logged_in.connect(self._new_sign_in, sender=app, weak=False)
            signals.user_loaded_from_cookie.connect(self._new_sign_in, sender=app, weak=False)
            signals.user_logged_out.connect(self._signed_out, sender=app, weak=False)
        if login_manager is not None:
            self._install_request_loader(login_manager)

    # -- the sign-in key -----------------------------------------------------------------

    def _new_sign_in(self, sender: Any, **extra: Any) -> None:
        """A new sign-in (password, remember cookie): a new key, so the code is owed again.

        A server-side session gets a new id as well, when its interface can (Flask-Session's
        ``regenerate``): whoever planted or knew the old id must not share this sign-in,
        its CSRF tokens included (attacker's review)."""
        interface = current_app.session_interface
        regenerate = getattr(interface, "regenerate", None)
        if callable(regenerate) and not signed_cookie_interface(current_app):
            regenerate(session)
        session[self.nonce_key] = secrets.token_urlsafe(16)

    def _signed_out(self, sender: Any, **extra: Any) -> None:
        session.pop(self.nonce_key, None)

    # -- tokens ---------------------------------------------------------------------------

    def load_token_user(self, req: Any) -> Any:
        """Flask-Login's user for a request the middleware let in with a personal access token
        (``environ["twofa"].token_id`` set, ``REMOTE_USER`` its owner), through the app's
        ``user_loader``; None for any other request."""
        environ = req.environ
        info = environ.get("twofa")
        if not isinstance(info, TwoFactorInfo) or info.token_id is None or info.user_id is None:
            return None
        if environ.get("REMOTE_USER") != info.user_id:
            return None
        login_manager = getattr(self.app, "login_manager", None)
        user_loader = getattr(login_manager, "_user_callback", None)
        return user_loader(info.user_id) if user_loader is not None else None

    def _install_request_loader(self, login_manager: Any) -> None:
        """Token owners become ``current_user``; an app's own request loader still answers the rest,
        whether it was set before ``TwoFactor`` or after (it is then wrapped at the next request)."""
        previous = getattr(login_manager, "_request_callback", None)
        if previous is not None and previous is self._request_loader:
            return

        def request_loader(req: Any) -> Any:
            user = self.load_token_user(req)
            if user is None and previous is not None:
                return previous(req)
            return user

        self._request_loader = request_loader
        login_manager.request_loader(request_loader)

    # -- the in-app guard -------------------------------------------------------------------

    def app_identity(self) -> Identity | None:
        """Who the app signed in for this request, as the app itself resolves it."""
        login_manager = getattr(self.app, "login_manager", None)
        if login_manager is None:
            if self.user_key is None:
                raise Misconfigured("Flask-Login is not set up on this app (LoginManager.init_app(app) "
                                    "was not called), so the signed-in user cannot be resolved")
            user_id = session.get(self.user_key)
            user_id = None if user_id is None or user_id == "" else str(user_id)
        else:
            if self.session_user_key != FLASK_LOGIN_KEY:
                raise Misconfigured(f"user_key={self.user_key!r}, but Flask-Login keeps the user in "
                                    f"session[{FLASK_LOGIN_KEY!r}]: leave user_key unset")
            if getattr(login_manager, "_user_callback", None) is None:
                raise Misconfigured("Flask-Login has no user_loader: the signed-in user cannot be resolved")
            self._install_request_loader(login_manager)
            user = _current_user()
            if user is None or not user.is_authenticated:
                return None
            raw = user.get_id()
            if raw is None:
                raise Misconfigured("the signed-in user's get_id() returned None")
            user_id = str(raw)
        if user_id is None:
            return None
        nonce = session.get(self.nonce_key)
        if (not isinstance(nonce, str) or not nonce) and not _by_token(request.environ):
            # A sign-in that sent no signal (a session from before TwoFactor, an app that
            # sets _user_id itself): a sign-in of its own, which owes the code, and can
            # then pass it. Without a key it could never be verified (attacker's review).
            self._new_sign_in(None)
            nonce = session[self.nonce_key]
        return Identity(user_id, nonce if isinstance(nonce, str) else "")

    def guard(self) -> Response | None:
        """The first ``before_request`` hook: the middleware's decision for the app's own user."""
        environ = request.environ
        middleware = self.middleware
        if middleware.policy.is_exempt(environ.get("PATH_INFO", "") or "/"):
            return None  # the app's logout, static files...: served to anyone; no user to load
        try:
            identity = self.app_identity()
        except Misconfigured as exc:
            log.error("twofa: %s; request refused", exc)
            return middleware.response(
                Refuse(500, "two_factor_misconfigured", N_("Two-factor authentication is not set up correctly.")),
                environ,
            )
        decision = middleware.guard(environ, identity)
        if isinstance(decision, Pass):
            environ["twofa"] = decision.info
            return None
        if identity is not None and not self._session_carries(identity):
            # The 2FA pages identify the user by the session: a sign-in kept elsewhere
            # (a custom request loader, a header) could never pass the second factor.
            log.error("twofa: the app signed in %r, but session[%r] does not carry that sign-in, so the "
                      "2FA pages cannot see it; request refused", identity.user_id, self.session_user_key)
            return middleware.response(
                Refuse(403, "two_factor_unavailable",
                       N_("This sign-in cannot pass two-factor authentication: sign in with the form, "
                          "or use a personal access token.")),
                environ,
            )
        return middleware.response(decision, environ)

    def _session_carries(self, identity: Identity) -> bool:
        user = session.get(self.session_user_key)
        return user is not None and str(user) == identity.user_id and bool(identity.session_key)

    # -- the verify page's "Sign out" ----------------------------------------------------------

    def sign_out(self, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """End the app's sign-in for this request (Flask-Login's logout, the nonce, the remember
        cookie) and return the ``Set-Cookie`` headers that do so."""
        app = self.app
        if app is None:
            raise RuntimeError("TwoFactor.init_app(app) was not called")
        response = app.response_class()
        with app.request_context(environ) as ctx:
            login_manager = getattr(app, "login_manager", None)
            if login_manager is not None and self.flask_login is not None:
                self.flask_login.logout_user()
                config = app.config
                response.delete_cookie(
                    config.get("REMEMBER_COOKIE_NAME", "remember_token"),
                    path=config.get("REMEMBER_COOKIE_PATH", "/"),
                    domain=config.get("REMEMBER_COOKIE_DOMAIN"),
                )
            for key in (*_FLASK_LOGIN_SESSION_KEYS, self.session_user_key, self.nonce_key):
                ctx.session.pop(key, None)
            app.session_interface.save_session(app, ctx.session, response)
        return [("Set-Cookie", value) for value in response.headers.getlist("Set-Cookie")]

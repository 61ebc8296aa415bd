# mypy: disable-error-code="import-untyped"
"""The one TwoFactorMiddleware of this process, built from ``settings.TWOFA``.

Its ``identify`` is the user Django resolved for the request (``request.user``)
with the sign-in nonce this app keeps in ``request.session``; its
``check_password`` is the Django user's own; its ``sign_out`` is
:func:`django.contrib.auth.logout`. All three run inside a Django request, on
the request's own thread, so Django opens and closes their database connections
as for any view.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model, logout
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.shortcuts import resolve_url
from django.urls import NoReverseMatch, reverse

from ...config import Settings
from ...identity import Identity
from ...middleware import TwoFactorMiddleware
from ...store import SQLAlchemyStore

log = logging.getLogger("twofa_middleware")

APP_NAME = "twofa_middleware.integrations.django"
#: The session key of the per-sign-in nonce; a new one at every ``user_logged_in``.
NONCE_KEY = "_twofa_nonce"
#: Where the Django request rides in the environ handed to the middleware (a copy, never ``request.META``).
REQUEST_KEY = "twofa.django.request"

_EXTRA_KEYS = frozenset({"secret_key", "database_url", "store", "notify"})
_SETTINGS_KEYS = frozenset(f.name for f in fields(Settings))

_lock = threading.Lock()
_instance: TwoFactorMiddleware | None = None


def twofa() -> TwoFactorMiddleware:
    """The process's middleware, built on first use from ``settings.TWOFA``.

    For what the app may want of it: ``twofa().service`` (the user's 2FA state),
    ``twofa().settings``.
    """
    global _instance  # noqa: PLW0603  # one per process, built once under the lock
    if _instance is None:
        with _lock:
            if _instance is None:
                _instance = build()
    return _instance


def build() -> TwoFactorMiddleware:
    """A new middleware from the Django settings; :func:`twofa` keeps the one in use."""
    options = getattr(django_settings, "TWOFA", None) or {}
    if not isinstance(options, dict):
        raise ImproperlyConfigured("settings.TWOFA must be a dict")
    unknown = set(options) - _EXTRA_KEYS - _SETTINGS_KEYS
    if unknown:
        raise ImproperlyConfigured(f"settings.TWOFA has unknown keys: {', '.join(sorted(unknown))}")
    options = dict(options)
    secret_key = options.pop("secret_key", None) or [
        django_settings.SECRET_KEY, *getattr(django_settings, "SECRET_KEY_FALLBACKS", ())
    ]
    store = options.pop("store", None) or SQLAlchemyStore(options.pop("database_url", None) or _default_database())
    options.pop("database_url", None)
    notify = options.pop("notify", None)
    defaults = _url_defaults()
    for name, value in defaults.items():
        options.setdefault(name, value)
    options.setdefault("sign_out", sign_out)
    options.setdefault("account_label", account_label)
    try:
        settings = Settings(**options)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"settings.TWOFA: {exc}") from exc
    return TwoFactorMiddleware(
        _never_called,
        secret_key=secret_key,
        store=store,
        identify=identify,
        check_password=check_password,
        notify=notify,
        settings=settings,
    )


def _default_database() -> str:
    url = os.environ.get("TWOFA_DATABASE_URL")
    if url:
        return url
    base = getattr(django_settings, "BASE_DIR", None) or os.getcwd()
    return f"sqlite:///{Path(base) / 'twofa.db'}"


def _local(url: object) -> str | None:
    """``url`` when it is a local path the 2FA pages may link to, else None."""
    if isinstance(url, str) and url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return None


def _url_defaults() -> dict[str, Any]:
    """``login_url``, ``logout_url``, ``home_url`` and ``exempt_paths`` from the project's own settings."""
    login = _local(resolve_url(django_settings.LOGIN_URL))
    try:
        logout_url = _local(reverse("logout"))
    except NoReverseMatch:
        logout_url = None
    defaults: dict[str, Any] = {"login_url": login, "logout_url": logout_url}
    if django_settings.is_overridden("LOGIN_REDIRECT_URL"):
        home = _local(resolve_url(django_settings.LOGIN_REDIRECT_URL))
        if home:
            defaults["home_url"] = home
    # Signing out and the app's static files never need the second factor.
    exempt = [p for p in (logout_url, _local(getattr(django_settings, "STATIC_URL", None))) if p]
    defaults["exempt_paths"] = tuple(exempt)
    return defaults


def _never_called(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # The Django middleware renders decisions itself; the WSGI wrapping is not used.
    raise RuntimeError("twofa: the Django integration's middleware has no wrapped WSGI app")


# -- what the middleware asks of the app ----------------------------------------------


def request_of(environ: dict[str, Any]) -> Any:
    request = environ.get(REQUEST_KEY)
    if request is None:
        raise ImproperlyConfigured("twofa: asked who is signed in outside a Django request")
    return request


def identify(environ: dict[str, Any]) -> Identity | None:
    """The user Django signed in for this request, with this sign-in's nonce."""
    request = request_of(environ)
    user = request.user
    if not user.is_authenticated:
        return None
    nonce = request.session.get(NONCE_KEY)
    if not isinstance(nonce, str) or not nonce:
        # Signed in by a path that sent no user_logged_in (a session from before
        # the app was installed, say): a sign-in of its own, owing the second factor.
        nonce = new_nonce(request)
    return Identity(user_key(user), nonce)


def new_nonce(request: Any) -> str:
    nonce = secrets.token_urlsafe(16)
    request.session[NONCE_KEY] = nonce
    return nonce


def on_user_logged_in(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """Every sign-in gets a new nonce, so it owes the second factor again.

    ``update_session_auth_hash`` (a password change) sends no signal and keeps
    the session's data: the nonce, and so the verified state, survive it.
    """
    if request is not None and hasattr(request, "session"):
        new_nonce(request)


def user_key(user: Any) -> str:
    """What 2FA state, tokens and the security log are kept under: the primary key.

    Never the username: a renamed account (a changed e-mail, with
    ``USERNAME_FIELD = "email"``) would lose its 2FA, and a new account given the
    old name would inherit its second factor and its tokens.
    """
    return str(user.pk)


def user_by_key(key: str) -> Any:
    """The active Django user with that primary key, else None."""
    model = get_user_model()
    try:
        user = model._default_manager.filter(pk=key).first()
    except (ValueError, TypeError, ValidationError):  # not a key of this model's kind
        return None
    return user if user is not None and getattr(user, "is_active", True) else None


def account_label(key: str) -> str:
    """The name people see for the user in authenticator apps and on the 2FA pages."""
    user = user_by_key(key)
    return str(user.get_username()) if user is not None else key


def check_password(user_id: str, password: str) -> bool:
    """The Django user's own password check (hashers, upgrades and all)."""
    user = user_by_key(user_id)
    if user is None:
        # As Django's ModelBackend does: an unknown user costs one hash too.
        get_user_model()().set_password(password)
        return False
    return bool(user.check_password(password))


def sign_out(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """End the Django sign-in of this request.

    Django's own session (and CSRF) middleware write the cookies that follow
    from it on the way out, so there are no headers to add here.
    """
    logout(request_of(environ))
    return []

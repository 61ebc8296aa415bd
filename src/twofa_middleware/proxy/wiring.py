"""The proxy, identify and check_password wired into one middleware; an app for gunicorn."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..config import Settings
from ..crypto import SecretKey
from ..middleware import TwoFactorMiddleware
from ..store.base import Store
from .common import UpstreamUnavailable, error
from .forward_auth import ForwardAuth
from .parity import Ambiguous, check_segments
from .reverse import ReverseProxy
from .upstream import upstream_check_password, upstream_identify

log = logging.getLogger("twofa_middleware.proxy")


class ProxyMiddleware(TwoFactorMiddleware):
    """A :class:`TwoFactorMiddleware` that answers 502/504 when ``identify`` cannot ask the upstream,
    and refuses a path the upstream could read otherwise before anything is judged."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            check_segments(environ.get("PATH_INFO", "") or "/")
        except Ambiguous as exc:
            return error(environ, exc.status, exc.code, exc.text)(environ, start_response)
        try:
            return super().__call__(environ, start_response)
        except UpstreamUnavailable as exc:
            log.warning("cannot ask the upstream who is signed in: %s", exc.__cause__ or exc)
            return error(environ, exc.status, exc.code, exc.text)(environ, start_response)


def proxy_app(
    upstream: str,
    *,
    secret_key: SecretKey | Sequence[SecretKey],
    store: Store,
    whoami_path: str,
    session_cookie: str,
    login_path: str,
    user_field: str = "user",
    username_field: str = "username",
    password_field: str = "password",  # noqa: S107 - the form field's name, not a password
    timeout: float = 30,
    preserve_host: bool = False,
    user_header: str | None = "X-Twofa-User",
    **settings: Any,
) -> TwoFactorMiddleware:
    """The middleware around a :class:`ReverseProxy` to ``upstream``, asking it who is
    signed in and whether a password is right. ``settings`` are
    :class:`~twofa_middleware.config.Settings` fields (``issuer``, ``exempt_paths``...).

    A request let in by a personal access token reaches the upstream with no
    credential of its own; ``user_header`` (``X-Twofa-User``) names the token's
    owner instead. The proxy always removes a client's copy of it, so the
    upstream may trust it when it can only be reached through the proxy."""
    prefix = settings.get("cookie_prefix", Settings.cookie_prefix) + "_"
    cache_seconds = settings.get("cache_seconds", Settings.cache_seconds)
    return ProxyMiddleware(
        ReverseProxy(
            upstream, timeout=timeout, preserve_host=preserve_host, strip_cookie_prefix=prefix,
            user_header=user_header,
        ),
        secret_key=secret_key,
        store=store,
        identify=upstream_identify(
            upstream, whoami_path=whoami_path, session_cookie=session_cookie, user_field=user_field,
            cache_seconds=cache_seconds, timeout=min(timeout, 10.0), strip_cookie_prefix=prefix,
        ),
        check_password=upstream_check_password(
            upstream, login_path=login_path, username_field=username_field, password_field=password_field,
            timeout=min(timeout, 10.0),
        ),
        **settings,
    )


def forward_auth_app(upstream: str, **kwargs: Any) -> ForwardAuth:
    """:class:`ForwardAuth` over :func:`proxy_app`'s middleware (same arguments):
    nginx or Traefik proxy the traffic, this only decides and serves the 2FA pages."""
    return ForwardAuth(proxy_app(upstream, **kwargs))


def app_from_env(forward_auth: bool = False) -> Any:
    """For gunicorn: ``gunicorn 'twofa_middleware.proxy:app_from_env()'``.

    Reads ``TWOFA_UPSTREAM``, ``TWOFA_SECRET_KEY`` (at least 16 bytes),
    ``TWOFA_DATABASE_URL`` (default ``sqlite:///twofa.db``),
    ``TWOFA_WHOAMI_PATH``, ``TWOFA_SESSION_COOKIE``, ``TWOFA_LOGIN_PATH`` and
    optionally ``TWOFA_ISSUER``, ``TWOFA_EXEMPT_PATHS`` (separated by spaces),
    ``TWOFA_LOGIN_URL``, ``TWOFA_LOGOUT_URL`` and ``TWOFA_COOKIE_SECURE=1``
    (behind a TLS-terminating proxy);
    ``app_from_env(forward_auth=True)`` serves
    :class:`ForwardAuth` instead of the proxy.
    """
    from ..store import SQLAlchemyStore

    env = os.environ
    missing = [
        name for name in ("TWOFA_UPSTREAM", "TWOFA_SECRET_KEY", "TWOFA_WHOAMI_PATH",
                          "TWOFA_SESSION_COOKIE", "TWOFA_LOGIN_PATH") if not env.get(name)
    ]
    if missing:
        raise RuntimeError("set " + ", ".join(missing))
    if len(env["TWOFA_SECRET_KEY"].encode("utf-8")) < 16:
        raise RuntimeError("TWOFA_SECRET_KEY must be at least 16 bytes")
    options: dict[str, Any] = {}
    if env.get("TWOFA_ISSUER"):
        options["issuer"] = env["TWOFA_ISSUER"]
    if env.get("TWOFA_EXEMPT_PATHS"):
        options["exempt_paths"] = tuple(env["TWOFA_EXEMPT_PATHS"].split())
    if env.get("TWOFA_COOKIE_SECURE") == "1":
        options["cookie_secure"] = True
    for name in ("login_url", "logout_url"):
        if env.get(f"TWOFA_{name.upper()}"):
            options[name] = env[f"TWOFA_{name.upper()}"]
    middleware = proxy_app(
        env["TWOFA_UPSTREAM"],
        secret_key=env["TWOFA_SECRET_KEY"],
        store=SQLAlchemyStore(env.get("TWOFA_DATABASE_URL") or "sqlite:///twofa.db"),
        whoami_path=env["TWOFA_WHOAMI_PATH"],
        session_cookie=env["TWOFA_SESSION_COOKIE"],
        login_path=env["TWOFA_LOGIN_PATH"],
        **options,
    )
    return ForwardAuth(middleware) if forward_auth else middleware

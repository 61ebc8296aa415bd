"""Identify the signed-in user through a Pyramid app's own security policy.

The middleware sits outside Pyramid's router, so this builds a throwaway
Pyramid request on a copy of the environ and asks the app's security policy
and session factory, exactly as a view would. Answers are cached for a few
seconds by the request's credentials (``Cookie`` and ``Authorization``
headers), which is all a cookie-session or header policy reads.
"""

from __future__ import annotations

import io
from typing import Any

from pyramid.interfaces import IRequestExtensions
from pyramid.registry import Registry
from pyramid.request import Request, apply_request_extensions

from ..cache import TTLCache
from ..identity import IdentifyFunc, Identity

MAX_CACHED_HEADERS = 4096


def security_policy_identify(
    registry: Registry, *, nonce_key: str = "login_nonce", cache_seconds: float = 5.0
) -> IdentifyFunc:
    """An ``identify`` from ``request.authenticated_userid`` and ``request.session[nonce_key]``.

    :param registry: the app's registry (``config.registry``, or the router's).
    :param nonce_key: the session key where the app keeps a fresh random value
        at every sign-in; the verified state is bound to it. A user the policy
        knows but whose session has no nonce is still identified (with an
        empty session key, which never counts as verified), so 2FA is never
        skipped for them.
    :param cache_seconds: 0 disables the cache; use it for policies that read
        more than the ``Cookie`` and ``Authorization`` headers, or server-side
        sessions that can end while the cookie stays the same.
    """
    cache: TTLCache[tuple[str, str], Identity] = TTLCache(ttl=cache_seconds, maxsize=20_000)
    has_extensions = registry.queryUtility(IRequestExtensions) is not None

    def identify(environ: dict[str, Any]) -> Identity | None:
        key = (environ.get("HTTP_COOKIE", ""), environ.get("HTTP_AUTHORIZATION", ""))
        identity = cache.get(key)
        if identity is None:
            identity = _ask_pyramid(registry, environ, nonce_key, has_extensions)
            # Only signed-in answers, and only for headers of a sane size, are
            # kept: anonymous or forged requests would let anyone fill the cache.
            if identity is not None and len(key[0]) + len(key[1]) <= MAX_CACHED_HEADERS:
                cache.set(key, identity)
        return identity

    return identify


def _ask_pyramid(
    registry: Registry, environ: dict[str, Any], nonce_key: str, extensions: bool
) -> Identity | None:
    # A copy with an empty body: nothing Pyramid caches on its request leaks
    # into the real one, and a policy cannot consume the app's request body.
    env = dict(environ, **{"wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"})
    request = Request(env)
    request.registry = registry
    if extensions:
        apply_request_extensions(request)
    user = request.authenticated_userid
    if user is None:
        return None
    nonce = request.session.get(nonce_key)
    return Identity(str(user), nonce if isinstance(nonce, str) else "")

"""Identify the signed-in user from a Flask app's own session cookie.

The middleware runs outside Flask's request context, so this reads the signed
session cookie with the app's own serializer. Decoded sessions are cached by
the raw cookie value for a few seconds: a verified request then costs a
dictionary lookup instead of an HMAC check.
"""

from __future__ import annotations

import time
from typing import Any, cast

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

from ..cache import TTLCache
from ..cookies import read_cookie
from ..identity import CookieKeyedIdentify, IdentifyFunc, Identity

# Longer session cookies are decoded each time rather than kept: nobody can
# make the cache hold much memory.
MAX_CACHED_COOKIE = 4096


def session_identify(
    app: Flask, *, user_key: str = "user_id", nonce_key: str = "login_nonce", cache_seconds: float = 5.0
) -> IdentifyFunc:
    """An ``identify`` reading ``session[user_key]`` and ``session[nonce_key]``.

    The app must put a fresh random ``nonce_key`` into the session at every
    sign-in: the verified state is bound to it. A session with a user but no
    nonce (one from before the app set it, or a sign-in path that forgot)
    still identifies the user, with an empty session key that never counts as
    verified: such users are asked for the second factor, never let through.
    """
    cache: TTLCache[str, Identity] = TTLCache(ttl=cache_seconds, maxsize=20_000)

    def identify(environ: dict[str, Any]) -> Identity | None:
        value = read_cookie(environ, app.config["SESSION_COOKIE_NAME"])
        if not value:
            return None
        identity = cache.get(value)
        if identity is None:
            identity = _decode(app, value, user_key, nonce_key)
            # Only signed-in sessions are kept: forged or signed-out cookies would
            # let anyone fill the cache.
            if identity is not None and len(value) <= MAX_CACHED_COOKIE:
                cache.set(value, identity, ttl=(identity.expires_at or 0) - time.time())
        return identity

    # The answer depends on the Cookie header alone: the middleware may remember its decisions by it.
    return CookieKeyedIdentify(identify, cache)


def _decode(app: Flask, value: str, user_key: str, nonce_key: str) -> Identity | None:
    # Flask's default session: the signed cookie this adapter reads.
    serializer = cast(SecureCookieSessionInterface, app.session_interface).get_signing_serializer(app)
    if serializer is None:
        return None
    max_age = int(app.permanent_session_lifetime.total_seconds())
    try:
        data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
    except BadSignature:
        return None
    user = data.get(user_key) if isinstance(data, dict) else None
    if user is None:
        return None
    nonce = data.get(nonce_key)
    return Identity(str(user), nonce if isinstance(nonce, str) else "", signed_at.timestamp() + max_age)

"""Identify the signed-in user from a Flask app's own session (deprecated).

Deprecated: use :class:`twofa_middleware.integrations.flask.TwoFactor`, which
also guards what the app itself signs in (Flask-Login's remember-me cookie, its
request loaders) and fails closed on a wrong session key. This ``identify`` only
reads the session, so a sign-in the app makes by another channel is invisible to it.

With Flask's signed session cookie, the cookie is decoded with the app's own
serializer and cached by its raw value for a few seconds: a verified request
then costs a dictionary lookup instead of an HMAC check. Any other session
interface (Flask-Session) is asked to open the session, uncached.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask

from ..cache import TTLCache
from ..cookies import read_cookie
from ..identity import CookieKeyedIdentify, IdentifyFunc, Identity
from ..integrations.flask import SessionIdentify, decode_signed_session, identity_from, signed_cookie_interface

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

    Deprecated: see the module's docstring.
    """
    if not signed_cookie_interface(app):
        # A server-side session: opened by the app's interface, never cached by cookie.
        return SessionIdentify(app, user_key, nonce_key, cache_seconds)
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
    decoded = decode_signed_session(app, value)
    return None if decoded is None else identity_from(decoded[0], user_key, nonce_key, decoded[1])

"""Identify the signed-in user from a Flask app's own session (deprecated).

Deprecated: use :class:`twofa_middleware.integrations.flask.TwoFactor`, which
also guards what the app itself signs in (Flask-Login's remember-me cookie, its
request loaders) and fails closed on a wrong session key. This ``identify`` only
reads the session, so a sign-in the app makes by another channel is invisible to it.

With Flask's signed session cookie, the cookie is decoded with the app's own
serializer and cached by its raw value for a few seconds: a verified request
then costs a dictionary lookup instead of an HMAC check. Any other session
interface (Flask-Session) is asked to open the session, uncached. Which of
the two is judged at each request, so an app may change its interface at any
time: the middleware remembers passes by the Cookie header only while it is
Flask's signed cookie.
"""

from __future__ import annotations

from flask import Flask

from ..identity import IdentifyFunc
from ..integrations.flask import SessionIdentify


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
    return SessionIdentify(app, user_key, nonce_key, cache_seconds)

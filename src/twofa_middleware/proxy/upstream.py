"""Who is signed in and whether a password is right, asked of the upstream app."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from ..cache import TTLCache
from ..cookies import read_cookie
from ..identity import CheckPasswordFunc, IdentifyFunc, Identity
from .reverse import UpstreamUnavailable, _cookie_ok, _Upstream

log = logging.getLogger("twofa_middleware.proxy")


def upstream_identify(
    upstream: str,
    *,
    whoami_path: str,
    session_cookie: str,
    user_field: str = "user",
    cache_seconds: float = 5.0,
    timeout: float = 10.0,
) -> IdentifyFunc:
    """Who is signed in, as the upstream's own who-am-I endpoint says.

    ``GET whoami_path`` with ``Cookie: <session_cookie>=<value>`` only; a 2xx
    JSON object's ``user_field`` is the user (the name its login endpoint
    takes), a 3xx or 4xx answer or an empty field means nobody is signed in.

    The session key is a SHA-256 of the session cookie's value. That binds the
    second factor to one sign-in only if the upstream gives a new session
    cookie value at every sign-in, as sane apps do (it also prevents session
    fixation), and keeps it during one. An app that keeps the same value
    across sign-out and sign-in would not ask for the code again.

    Fails closed: when the upstream cannot be asked (unreachable, a timeout, a
    5xx or 429, a 2xx that is not JSON) this raises :class:`UpstreamUnavailable`
    instead of saying "nobody", which would let the request through to the
    app. :class:`ProxyMiddleware` and :class:`ForwardAuth` turn it into a 502 or
    504; a plain :class:`TwoFactorMiddleware` lets it escape (a 500, the app not
    reached either).

    Only "signed in" answers are cached, by the cookie value, for
    ``cache_seconds``: an app that signs a user in without changing the cookie
    value must not be taken for signed out for a while after.
    """
    endpoint = _Upstream(upstream, timeout)
    cache: TTLCache[str, Identity] = TTLCache(ttl=cache_seconds, maxsize=20_000)

    def identify(environ: dict[str, Any]) -> Identity | None:
        value = read_cookie(environ, session_cookie)
        # A value the proxy would not pass on (see canonical_cookie_header) is no
        # session to the upstream either; never splice it into a header.
        if not value or not _cookie_ok(session_cookie, value):
            return None
        identity = cache.get(value)
        if identity is not None:
            return identity
        status, body = endpoint.call(
            "GET", whoami_path, {"Cookie": f"{session_cookie}={value}", "Accept": "application/json"}
        )
        if status >= 500 or status == 429:
            log.warning("who-am-I at %s answered %s", whoami_path, status)
            raise UpstreamUnavailable()
        if not 200 <= status < 300:
            return None
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise UpstreamUnavailable("The application's who-am-I answer is not JSON.") from exc
        user = payload.get(user_field) if isinstance(payload, dict) else None
        if user is None or user is False or user == "":
            return None
        if not isinstance(user, (str, int)) or isinstance(user, bool):
            raise UpstreamUnavailable("The application's who-am-I answer has no usable user name.")
        identity = Identity(str(user), hashlib.sha256(value.encode("utf-8")).hexdigest())
        cache.set(value, identity)
        return identity

    # The answer depends on the Cookie header alone.
    identify.keyed_by_cookie = True  # type: ignore[attr-defined]
    identify.cache = cache  # type: ignore[attr-defined]
    return identify


def upstream_check_password(
    upstream: str,
    *,
    login_path: str,
    username_field: str = "username",
    password_field: str = "password",
    timeout: float = 10.0,
) -> CheckPasswordFunc:
    """A password checked by POSTing ``{username_field: user, password_field: password}``
    as JSON to the upstream's login endpoint: right iff it answers 2xx.

    The session that sign-in may start upstream is thrown away (no cookie from
    the answer is kept). A 5xx or 429 raises :class:`UpstreamUnavailable` (a
    503-like answer, never counted as a wrong password).
    """
    endpoint = _Upstream(upstream, timeout)

    def check_password(user_id: str, password: str) -> bool:
        body = json.dumps({username_field: user_id, password_field: password}).encode("utf-8")
        status, _ = endpoint.call(
            "POST", login_path, {"Content-Type": "application/json", "Accept": "application/json"}, body
        )
        if status >= 500 or status == 429:
            raise UpstreamUnavailable()
        return 200 <= status < 300

    return check_password

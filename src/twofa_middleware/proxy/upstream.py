"""Who is signed in and whether a password is right, asked of the upstream app."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from ..cache import TTLCache
from ..cookies import read_cookie
from ..i18n import N_
from ..identity import CheckPasswordFunc, CookieKeyedIdentify, IdentifyFunc, Identity
from .common import Upstream, UpstreamUnavailable
from .parity import cookie_ok, plain_cookie_header
from .reverse import canonical_cookie_header

log = logging.getLogger("twofa_middleware.proxy")

# Set in the environ by ForwardAuth: there nginx passes the client's Cookie
# header to the app as it is, so who-am-I must be asked with it as it is too,
# not with the proxy's canonical form.
COOKIE_AS_SENT = "twofa.proxy.cookie_as_sent"


def upstream_identify(
    upstream: str,
    *,
    whoami_path: str,
    session_cookie: str,
    user_field: str = "user",
    cache_seconds: float = 5.0,
    timeout: float = 10.0,
    strip_cookie_prefix: str = "twofa_",
) -> IdentifyFunc:
    """Who is signed in, as the upstream's own who-am-I endpoint says.

    ``GET whoami_path`` with the very Cookie header the app will get: as the
    proxy passes it on (:func:`canonical_cookie_header`), or as the client sent
    it under :class:`ForwardAuth`, which cannot change it and so refuses
    (:class:`~.parity.Ambiguous`) a header that servers could join or read
    differently: repeated lines joined with ``,``, or the session cookie twice. Every cookie, not the session cookie
    alone, so a remember-me cookie or a cookie name the upstream reads loosely
    (``SID`` for ``sid``, ``s.id`` for ``s_id``) cannot sign someone in behind
    the middleware's back. A 2xx JSON object's ``user_field`` is the user (the
    name its login endpoint takes); a 3xx or 4xx answer or an empty field means
    nobody is signed in. A request without cookies reaches the upstream with no
    credential at all (the proxy drops ``Authorization``), so it is not asked.

    The session key is a SHA-256 of the session cookie's value. That binds the
    second factor to one sign-in only if the upstream gives a new session
    cookie value at every sign-in, as sane apps do (it also prevents session
    fixation), and keeps it during one. A user the upstream recognises without
    that exact cookie gets an empty session key, which never counts as
    verified: asked for the second factor, never let through.

    Fails closed: when the upstream cannot be asked (unreachable, a timeout, a
    5xx or 429, a 2xx that is not JSON) this raises :class:`UpstreamUnavailable`
    instead of saying "nobody", which would let the request through to the
    app. :class:`ProxyMiddleware` and :class:`ForwardAuth` turn it into a 502 or
    504; a plain :class:`TwoFactorMiddleware` lets it escape (a 500, the app not
    reached either).

    Only "signed in" answers are cached, by the header, for ``cache_seconds``.
    "Nobody" never is: any cookie may be the session to the upstream (PHP and
    Rack decode cookie names, ``my.sess`` is ``my_sess`` to PHP), and an app that
    signs a user in without changing it must not have that user taken for
    nobody for a while after. The price: a request with cookies but no
    signed-in user asks the upstream every time.
    """
    endpoint = Upstream(upstream, timeout)
    cache: TTLCache[str, Identity] = TTLCache(ttl=cache_seconds, maxsize=20_000)

    def identify(environ: dict[str, Any]) -> Identity | None:
        raw = environ.get("HTTP_COOKIE") or None
        if environ.get(COOKIE_AS_SENT):
            plain_cookie_header(raw, session_cookie)  # the app must read the very header asked about
            header = raw
        else:
            header = canonical_cookie_header(raw, strip_cookie_prefix)
        if header is None:
            return None
        identity = cache.get(header)
        if identity is not None:
            return identity
        status, body = endpoint.call("GET", whoami_path, {"Cookie": header, "Accept": "application/json"})
        if status >= 500 or status == 429:
            log.warning("who-am-I at %s answered %s", whoami_path, status)
            raise UpstreamUnavailable()
        user = _user_of(status, body, user_field)
        if user is None:
            return None
        # The session cookie as the upstream gets it: the first of its name, and
        # only if canonical_cookie_header passed it on.
        value = read_cookie(environ, session_cookie)
        session_key = ""
        if value and cookie_ok(session_cookie, value):
            session_key = hashlib.sha256(value.encode("utf-8")).hexdigest()
        identity = Identity(user, session_key)
        cache.set(header, identity)
        return identity

    # The answer depends on the Cookie header alone: the middleware may remember its decisions by it.
    return CookieKeyedIdentify(identify, cache)


def _user_of(status: int, body: bytes, user_field: str) -> str | None:
    """The user a who-am-I answer names, None for nobody; UpstreamUnavailable when unreadable."""
    if not 200 <= status < 300:
        return None
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise UpstreamUnavailable(N_("The application's who-am-I answer is not JSON.")) from exc
    user = payload.get(user_field) if isinstance(payload, dict) else None
    if user is None or user is False or user == "":
        return None
    if not isinstance(user, (str, int)) or isinstance(user, bool):
        raise UpstreamUnavailable(N_("The application's who-am-I answer has no usable user name."))
    return str(user)


def upstream_check_password(
    upstream: str,
    *,
    login_path: str,
    username_field: str = "username",
    password_field: str = "password",  # noqa: S107 - the form field's name, not a password
    timeout: float = 10.0,
) -> CheckPasswordFunc:
    """A password checked by POSTing ``{username_field: user, password_field: password}``
    as JSON to the upstream's login endpoint: right iff it answers 2xx.

    The session that sign-in may start upstream is thrown away (no cookie from
    the answer is kept). A 5xx or 429 raises :class:`UpstreamUnavailable` (a
    503-like answer, never counted as a wrong password).
    """
    endpoint = Upstream(upstream, timeout)

    def check_password(user_id: str, password: str) -> bool:
        body = json.dumps({username_field: user_id, password_field: password}).encode("utf-8")
        status, _ = endpoint.call(
            "POST", login_path, {"Content-Type": "application/json", "Accept": "application/json"}, body
        )
        if status >= 500 or status == 429:
            raise UpstreamUnavailable()
        return 200 <= status < 300

    return check_password

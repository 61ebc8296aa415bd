"""Reverse-proxy mode: the middleware in front of an app that is not Python at all.

Three parts, wired together by :func:`proxy_app`:

- :class:`ReverseProxy`, a WSGI app that forwards each request to the
  upstream over HTTP, the one the middleware wraps;
- :func:`upstream_identify`, who is signed in, asked of the upstream's own
  "who am I" endpoint with the request's session cookie;
- :func:`upstream_check_password`, a password checked by the upstream's own
  login endpoint.

:class:`ForwardAuth` is the other way to sit in front of such an app: nginx
(``auth_request``) or Traefik (``forwardAuth``) proxy the traffic and ask it,
per request, whether to let it through.

What the upstream must provide: a JSON who-am-I endpoint answering 200 with the
user's name for a signed-in session cookie (401 or 403 otherwise), a JSON login
endpoint answering 2xx for a right password, and a session cookie whose value
changes at every sign-in and stays the same during one.

Failing closed: when the upstream cannot be asked who is signed in (down, too
slow, a 5xx), nothing is forwarded, the answer is a 502 or 504. An identify that
said "nobody" instead would let a signed-in user who owes the second factor
through whenever the who-am-I call alone failed (a timeout under load, say).
"""

from __future__ import annotations

import copy
import hashlib
import http.client
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from werkzeug.http import parse_cookie
from werkzeug.wrappers import Response

from .cache import TTLCache
from .config import Settings
from .cookies import read_cookie
from .crypto import SecretKey
from .errors import TwoFactorError
from .identity import CheckPasswordFunc, Identity, IdentifyFunc
from .middleware import TwoFactorMiddleware
from .store.base import Store
from .web.http import wants_json

log = logging.getLogger("twofa_middleware.proxy")

__all__ = [
    "ForwardAuth",
    "ProxyMiddleware",
    "ReverseProxy",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "app_from_env",
    "canonical_cookie_header",
    "forward_auth_app",
    "proxy_app",
    "strip_hop_by_hop",
    "upstream_check_password",
    "upstream_identify",
]

# Headers that describe one connection, not the message (RFC 9110 7.6.1), plus
# TE's old companions. Any header named in Connection is one too.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
# What the proxy sets itself, so a client's copy never reaches the upstream.
_SET_BY_PROXY = frozenset(
    {"host", "content-length", "expect", "cookie", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
)
# RFC 6265: a cookie name is a token; a value is cookie-octets (no space, DQUOTE, comma, ';' or '\').
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*\Z")
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_CHUNK = 64 * 1024


class UpstreamUnavailable(TwoFactorError):
    """The upstream could not be asked (who is signed in, or a password): nothing is let through."""

    code = "upstream_unavailable"
    status = 502
    message = "The application is not reachable right now. Try again in a moment."


class UpstreamTimeout(UpstreamUnavailable):
    code = "upstream_timeout"
    status = 504
    message = "The application took too long to answer. Try again in a moment."


# -- headers and cookies --------------------------------------------------------------


def strip_hop_by_hop(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """``headers`` without hop-by-hop ones: Connection, Keep-Alive, ``Proxy-*``, TE,
    Trailer, Transfer-Encoding, Upgrade, and every header Connection names."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
        if token.strip()
    }
    return [
        (name, value)
        for name, value in headers
        if (lower := name.lower()) not in HOP_BY_HOP and lower not in named and not lower.startswith("proxy-")
    ]


def _cookie_ok(name: str, value: str) -> bool:
    return bool(_COOKIE_NAME.match(name)) and bool(_COOKIE_VALUE.match(value))


def canonical_cookie_header(header: str | None, strip_prefix: str = "twofa_") -> str | None:
    """The Cookie header as the upstream gets it: exactly what the middleware read.

    Parsed with werkzeug, as the middleware parses it (see
    :func:`twofa_middleware.cookies.read_cookie`), then written out again with
    the first value of each name only. A header crafted to be read one way by
    the middleware and another way by the upstream's parser (duplicate names,
    quotes swallowing a ``;``) reaches the upstream as the middleware read it.
    Cookies named with ``strip_prefix`` (the middleware's own) are left out,
    and so is a cookie that cannot be written back as plain RFC 6265
    cookie-octets (a value with spaces, quotes, commas or ``;``).
    """
    if not header:
        return None
    seen: set[str] = set()
    parts = []
    for name, value in parse_cookie(header).items(multi=True):
        if name in seen:
            continue
        seen.add(name)
        if (strip_prefix and name.startswith(strip_prefix)) or not _cookie_ok(name, value):
            continue
        parts.append(f"{name}={value}")
    return "; ".join(parts) or None


def _has_dot_segment(path: str) -> bool:
    """``/static/../api``: the middleware judged one path, the upstream would serve another."""
    return any(segment in (".", "..") for segment in path.replace("\\", "/").split("/"))


def _error(environ: dict[str, Any], status: int, code: str, message: str) -> Response:
    if wants_json(environ):
        response = Response(json.dumps({"error": code, "message": message}), status, mimetype="application/json")
    else:
        response = Response(message + "\n", status, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


class _Upstream:
    """Where the upstream is, from its base URL (``http://host:port/optional/prefix``)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL with a host, not {url!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("upstream must not carry credentials, a query or a fragment")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
             limit: int = 64 * 1024) -> tuple[int, bytes]:
        """One small request; its status and up to ``limit`` bytes of body.

        Connection faults raise :class:`UpstreamUnavailable` (a timeout
        :class:`UpstreamTimeout`). No cookie the upstream sets is kept.
        """
        conn = self.connect()
        try:
            conn.request(method, self.base_path + path, body=body, headers={"Host": self.netloc, **headers})
            response = conn.getresponse()
            return response.status, response.read(limit)
        except TimeoutError as exc:
            raise UpstreamTimeout() from exc
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamUnavailable() from exc
        finally:
            conn.close()


# -- the proxy ------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Streamed:
    """The upstream's body, passed on in chunks as they arrive; closing it closes the connection."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.response = response

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                data = self.response.read1(_CHUNK)
            except (OSError, http.client.HTTPException):
                # The status line is gone already: all that is left is to cut the
                # connection, so the client sees a broken body, not a short one.
                log.warning("upstream broke off a response body", exc_info=True)
                raise
            if not data:
                return
            yield data

    def close(self) -> None:
        self.response.close()
        self.conn.close()


class ReverseProxy:
    """A WSGI app that forwards every request to ``upstream`` over HTTP/1.1.

    - The request body is streamed when its length is known; a body of unknown
      length (chunked) is read into memory up to ``max_unsized_body`` bytes
      (413 beyond it) when the server de-chunks it, else refused with 411.
    - Hop-by-hop headers are dropped both ways; X-Forwarded-For (appended to),
      -Proto and -Host are set. The Host header is the upstream's unless
      ``preserve_host``.
    - The Cookie header goes out as :func:`canonical_cookie_header` makes it:
      without the middleware's own cookies (``strip_cookie_prefix``), and
      exactly as the middleware read it.
    - A request a personal access token let in reaches the upstream without
      its ``Authorization`` header: the token is the middleware's credential.
      Name a header in ``user_header`` to tell the upstream whose token it was
      (any copy the client sent is always removed).
    - A path with ``.`` or ``..`` segments gets a 400: the middleware judged the
      path as written, the upstream would serve it resolved.
    - Status, headers (every Set-Cookie) and body come back as the upstream
      sent them, the body in chunks as it arrives. If the upstream cannot be
      reached: 502; if it does not answer within ``timeout`` seconds: 504.

    A new connection per request: simple and always correct.
    """

    def __init__(
        self,
        upstream: str,
        *,
        timeout: float = 30,
        preserve_host: bool = False,
        strip_cookie_prefix: str = "twofa_",
        max_unsized_body: int = 1024 * 1024,
        user_header: str | None = None,
    ) -> None:
        self.upstream = _Upstream(upstream, timeout)
        self.preserve_host = preserve_host
        self.strip_cookie_prefix = strip_cookie_prefix
        self.max_unsized_body = max_unsized_body
        self.user_header = user_header

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            target = self.target(environ)
            length, body = self._body(environ)
        except _BadRequest as exc:
            return _error(environ, exc.status, exc.code, exc.message)(environ, start_response)
        conn = self.upstream.connect()
        try:
            conn.putrequest(environ["REQUEST_METHOD"], target, skip_host=True, skip_accept_encoding=True)
            for name, value in self.request_headers(environ, length):
                conn.putheader(name, value)
            conn.endheaders()
            for chunk in body:
                conn.send(chunk)
            response = conn.getresponse()
        except _BadRequest as exc:
            conn.close()
            return _error(environ, exc.status, exc.code, exc.message)(environ, start_response)
        except TimeoutError:
            conn.close()
            log.warning("upstream %s timed out", self.upstream.netloc)
            return _error(environ, 504, "upstream_timeout", UpstreamTimeout.message)(environ, start_response)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            log.warning("upstream %s unreachable: %s", self.upstream.netloc, exc)
            return _error(environ, 502, "upstream_unavailable", UpstreamUnavailable.message)(
                environ, start_response
            )
        except ValueError:  # http.client refused a header value or the method
            conn.close()
            return _error(environ, 400, "invalid_request", "The request is malformed.")(environ, start_response)
        reason = response.reason or _phrase(response.status)
        start_response(f"{response.status} {reason}", strip_hop_by_hop(response.msg.items()))
        return _Streamed(conn, response)

    def target(self, environ: dict[str, Any]) -> str:
        """The upstream path and query: ``PATH_INFO`` (what the middleware judged), re-encoded."""
        path = environ.get("PATH_INFO", "") or "/"
        if _has_dot_segment(path):
            raise _BadRequest(400, "invalid_path", "The path has '.' or '..' segments.")
        target = self.upstream.base_path + quote(path.encode("latin-1"), safe=_PATH_SAFE)
        query = environ.get("QUERY_STRING", "")
        return target + (f"?{query}" if query else "")

    def request_headers(self, environ: dict[str, Any], length: int | None) -> list[tuple[str, str]]:
        raw = [
            (key[5:].replace("_", "-").title(), value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        ]
        if environ.get("CONTENT_TYPE"):
            raw.append(("Content-Type", environ["CONTENT_TYPE"]))
        info = environ.get("twofa")
        by_token = info is not None and getattr(info, "token_id", None) is not None
        drop = set(_SET_BY_PROXY)
        if by_token:
            drop.add("authorization")
        if self.user_header:
            drop.add(self.user_header.lower())
        headers = [(n, v) for n, v in strip_hop_by_hop(raw) if n.lower() not in drop]

        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        headers.append(("Host", host if self.preserve_host else self.upstream.netloc))
        if length is not None:
            headers.append(("Content-Length", str(length)))
        cookie = canonical_cookie_header(environ.get("HTTP_COOKIE"), self.strip_cookie_prefix)
        if cookie:
            headers.append(("Cookie", cookie))
        if by_token and self.user_header:
            headers.append((self.user_header, str(info.user_id)))
        prior, remote = environ.get("HTTP_X_FORWARDED_FOR"), environ.get("REMOTE_ADDR") or "unknown"
        headers.append(("X-Forwarded-For", f"{prior}, {remote}" if prior else remote))
        headers.append(("X-Forwarded-Proto", environ.get("wsgi.url_scheme", "http")))
        headers.append(("X-Forwarded-Host", host))
        return headers

    def _body(self, environ: dict[str, Any]) -> tuple[int | None, Iterable[bytes]]:
        """``(Content-Length to send, chunks)``; no length and no chunks when there is no body."""
        stream = environ["wsgi.input"]
        declared = environ.get("CONTENT_LENGTH", "")
        if declared:
            if not declared.isdigit():
                raise _BadRequest(400, "invalid_request", "Content-Length is not a number.")
            return int(declared), _read_exactly(stream, int(declared))
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None, ()
        if not environ.get("wsgi.input_terminated"):
            raise _BadRequest(411, "length_required", "Send a Content-Length with the body.")
        data = stream.read(self.max_unsized_body + 1)
        if len(data) > self.max_unsized_body:
            raise _BadRequest(413, "payload_too_large", "The body is too large without a Content-Length.")
        return len(data), (data,) if data else ()


def _read_exactly(stream: Any, length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        data = stream.read(min(left, _CHUNK))
        if not data:  # the client went away: do not let the upstream wait for the rest
            raise _BadRequest(400, "incomplete_body", "The request body ended early.")
        left -= len(data)
        yield data


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# -- identify and check_password through the upstream ---------------------------------


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


# -- wiring ---------------------------------------------------------------------------


class ProxyMiddleware(TwoFactorMiddleware):
    """A :class:`TwoFactorMiddleware` that answers 502/504 when ``identify`` cannot ask the upstream."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return super().__call__(environ, start_response)
        except UpstreamUnavailable as exc:
            log.warning("cannot ask the upstream who is signed in: %s", exc.__cause__ or exc)
            return _error(environ, exc.status, exc.code, exc.message)(environ, start_response)


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
    password_field: str = "password",
    timeout: float = 30,
    preserve_host: bool = False,
    **settings: Any,
) -> TwoFactorMiddleware:
    """The middleware around a :class:`ReverseProxy` to ``upstream``, asking it who is
    signed in and whether a password is right. ``settings`` are
    :class:`~twofa_middleware.config.Settings` fields (``issuer``, ``exempt_paths``...)."""
    prefix = settings.get("cookie_prefix", Settings.cookie_prefix) + "_"
    cache_seconds = settings.get("cache_seconds", Settings.cache_seconds)
    return ProxyMiddleware(
        ReverseProxy(upstream, timeout=timeout, preserve_host=preserve_host, strip_cookie_prefix=prefix),
        secret_key=secret_key,
        store=store,
        identify=upstream_identify(
            upstream, whoami_path=whoami_path, session_cookie=session_cookie, user_field=user_field,
            cache_seconds=cache_seconds, timeout=min(timeout, 10.0),
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
    optionally ``TWOFA_ISSUER``; ``app_from_env(forward_auth=True)`` serves
    :class:`ForwardAuth` instead of the proxy.
    """
    from .store import SQLAlchemyStore

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


# -- forward auth ---------------------------------------------------------------------


_ALLOWED = "twofa.forward_auth.allowed"


def _allow(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ[_ALLOWED] = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b""]


class ForwardAuth:
    """Answers nginx ``auth_request`` and Traefik ``forwardAuth``: 2xx lets the request through.

    The request it judges is described by ``X-Original-URI`` and
    ``X-Original-Method`` (nginx, set them in the config) or ``X-Forwarded-Uri``
    and ``X-Forwarded-Method`` (Traefik), with the client's own headers and
    cookies. The middleware's decision is run as is, around an app that only
    notes it was reached:

    - reached (anonymous visitors too: the app handles its own sign-in; users
      without 2FA; users past it; a valid token) → ``200``, with
      ``X-Twofa-User`` naming the user when there is one;
    - the second factor (or, under a policy, an enrollment) is owed → ``401``
      with ``X-Twofa-Verify-Url``: where to send the browser (the verify page
      with ``next``);
    - anything else the middleware answered (401 for a bad token, 403, 502,
      503) is passed on. nginx treats a status other than 2xx, 401 or 403
      from ``auth_request`` as an error (500).

    Requests whose own path is under the mount are the 2FA pages and API,
    served by the middleware directly: route ``/_2fa/`` to this app too. Never
    expose this app to clients directly: it trusts the forwarded URI.
    """

    def __init__(self, middleware: TwoFactorMiddleware) -> None:
        self.middleware = middleware
        self.mount = middleware.settings.mount
        # The same middleware (settings, service, caches, all shared) around an
        # app that only notes it was reached, never the one it protects.
        self.judge = copy.copy(middleware)
        self.judge.app = _allow

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path == self.mount or path.startswith(self.mount + "/"):
            return self._guarded(environ, start_response, self.middleware)
        return self.check(environ, start_response)

    def _guarded(self, environ: dict[str, Any], start_response: Callable[..., Any], app: Any) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except UpstreamUnavailable as exc:
            return _error(environ, exc.status, exc.code, exc.message)(environ, start_response)

    def check(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        uri = environ.get("HTTP_X_ORIGINAL_URI") or environ.get("HTTP_X_FORWARDED_URI") or "/"
        method = environ.get("HTTP_X_ORIGINAL_METHOD") or environ.get("HTTP_X_FORWARDED_METHOD") or "GET"
        raw_path, _, query = uri.partition("?")
        path = _remove_dot_segments("/" + unquote(raw_path.split("#", 1)[0], encoding="latin-1").lstrip("/"))
        if path == self.mount or path.startswith(self.mount + "/"):
            return _status(start_response, "200 OK", [])  # the pages guard themselves
        judged = dict(environ)
        judged.update(
            PATH_INFO=path, SCRIPT_NAME="", QUERY_STRING=query, CONTENT_LENGTH="",
            # Judged as a page navigation, so a challenge comes back as a redirect
            # to the verify page with ``next``: the URL the header carries.
            REQUEST_METHOD="GET", HTTP_ACCEPT="text/html",
        )
        judged.pop("HTTP_X_REQUESTED_WITH", None)
        judged["twofa.forward_auth.method"] = method
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self._guarded(judged, capture, self.judge)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if judged.get(_ALLOWED):
            info = judged.get("twofa")
            user = getattr(info, "user_id", None)
            return _status(start_response, "200 OK", [("X-Twofa-User", user)] if user else [])
        status = captured.get("status", "500 Internal Server Error")
        headers = dict(captured.get("headers", []))
        if status.startswith("303") and headers.get("Location", "").startswith(self.mount + "/"):
            verify_url = headers["Location"]
            payload = json.dumps({"error": "two_factor_required", "verify_url": verify_url}).encode()
            start_response(
                "401 Unauthorized",
                [("Content-Type", "application/json"), ("X-Twofa-Verify-Url", verify_url),
                 ("Cache-Control", "no-store")],
            )
            return [payload]
        start_response(status, list(captured.get("headers", [])))
        return [body]


def _status(start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]]) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Cache-Control", "no-store"), *headers])
    return [b""]


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, with ``\\`` read as ``/``: the path the upstream will serve."""
    out: list[str] = []
    for segment in path.replace("\\", "/").split("/")[1:]:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    trailing = path.endswith(("/.", "/..")) and out
    return "/" + "/".join(out) + ("/" if trailing else "")

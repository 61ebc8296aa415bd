"""The reverse proxy itself: forwards a request to the upstream over HTTP, and the
header, cookie and error helpers the other proxy modules share."""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

from ..cookies import parse_cookie_header
from ..errors import InvalidRequest
from ..i18n import N_, Text
from ..identity import TwoFactorInfo
from .common import Upstream, UpstreamTimeout, UpstreamUnavailable, error, phrase
from .parity import Ambiguous, check_segments, content_length, cookie_ok, header_value

log = logging.getLogger("twofa_middleware.proxy")

# Headers that describe one connection, not the message (RFC 9110 7.6.1), plus
# TE's old companions. Any header named in Connection is one too.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "trailers", "transfer-encoding", "upgrade"}
)
# What the proxy sets itself, so a client's copy never reaches the upstream;
# and Authorization: the middleware's tokens are the only credential besides the
# session cookie, and an upstream that took Basic auth would skip the second factor.
_SET_BY_PROXY = frozenset(
    {"host", "content-length", "expect", "cookie", "authorization",
     "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
)
# Headers some servers route or identify by: a client's copy could make the
# upstream serve another path than the one the middleware judged
# (X-Original-URL on IIS and Symfony) or believe another client or user.
_ROUTING = frozenset({"forwarded", "x-real-ip", "x-original-url", "x-rewrite-url", "x-original-uri",
                      "x-original-method"})
_ROUTING_PREFIXES = ("x-forwarded-", "x-twofa-")
_PATH_SAFE = "/!$&'()*+,;=:@-._~"
_CHUNK = 64 * 1024


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
    for name, value in parse_cookie_header(header).items(multi=True):
        if name in seen:
            continue
        seen.add(name)
        if (strip_prefix and name.startswith(strip_prefix)) or not cookie_ok(name, value):
            continue
        parts.append(f"{name}={value}")
    return "; ".join(parts) or None


def response_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream's headers for the client: no hop-by-hop ones, and no
    Content-Length beside a Transfer-Encoding (RFC 9112 6.3): the body is passed
    on de-chunked, so such a length would frame it wrongly for the client."""
    headers = list(headers)
    chunked = any(name.lower() == "transfer-encoding" for name, _ in headers)
    return [(n, v) for n, v in strip_hop_by_hop(headers) if not (chunked and n.lower() == "content-length")]


# -- the proxy ------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str | Text) -> None:
        super().__init__(str(message))
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
    - No ``Authorization`` header reaches the upstream: the middleware's
      tokens are its own credential, and another (Basic auth) would sign a
      user in without the second factor. Name a header in ``user_header`` to
      tell the upstream whose token let a request in.
    - Headers a client could route or pose by are removed: ``Forwarded``,
      ``X-Forwarded-*`` but For (appended to), ``X-Real-IP``,
      ``X-Original-URL``, ``X-Rewrite-URL``, ``X-Twofa-*`` and ``user_header``.
    - A path the upstream could read differently from the middleware (``.``,
      ``..`` or empty segments, ``\\``, ``;``, control characters) gets a 400
      ``ambiguous_request`` (see :mod:`.parity`), and so does a query string with
      spaces or control characters: judged as written or refused, never normalised.
    - ``user_header`` carries the token owner's name percent-encoded
      (:func:`.parity.header_value`).
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
        self.upstream = Upstream(upstream, timeout)
        self.preserve_host = preserve_host
        self.strip_cookie_prefix = strip_cookie_prefix
        self.max_unsized_body = max_unsized_body
        self.user_header = user_header
        self._dropped = _SET_BY_PROXY | _ROUTING | ({user_header.lower()} if user_header else set())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            target = self.target(environ)
            length, body = self._body(environ)
        except _BadRequest as exc:
            return error(environ, exc.status, exc.code, exc.message)(environ, start_response)
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
            return error(environ, exc.status, exc.code, exc.message)(environ, start_response)
        except TimeoutError:
            conn.close()
            log.warning("upstream %s timed out", self.upstream.netloc)
            return error(environ, 504, "upstream_timeout", UpstreamTimeout.message)(environ, start_response)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            log.warning("upstream %s unreachable: %s", self.upstream.netloc, exc)
            return error(environ, 502, "upstream_unavailable", UpstreamUnavailable.message)(
                environ, start_response
            )
        except ValueError:  # http.client refused a header value or the method
            conn.close()
            return error(environ, 400, "invalid_request", InvalidRequest.message)(environ, start_response)
        reason = response.reason or phrase(response.status)
        start_response(f"{response.status} {reason}", response_headers(response.msg.items()))
        return _Streamed(conn, response)

    def target(self, environ: dict[str, Any]) -> str:
        """The upstream path and query: ``PATH_INFO`` (what the middleware judged), re-encoded."""
        path = environ.get("PATH_INFO", "") or "/"
        try:
            check_segments(path)
        except Ambiguous as exc:
            raise _BadRequest(exc.status, exc.code, exc.text) from exc
        target = self.upstream.base_path + quote(path.encode("latin-1"), safe=_PATH_SAFE)
        query = environ.get("QUERY_STRING", "")
        if any(c <= " " or c == "\x7f" for c in query):
            raise _BadRequest(400, "invalid_request", N_("The query string has spaces or control characters."))
        return target + (f"?{query}" if query else "")

    def request_headers(self, environ: dict[str, Any], length: int | None) -> list[tuple[str, str]]:
        raw = [
            (key[5:].replace("_", "-").title(), value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        ]
        if environ.get("CONTENT_TYPE"):
            raw.append(("Content-Type", environ["CONTENT_TYPE"]))
        info: TwoFactorInfo | None = environ.get("twofa")
        token_owner = info.user_id if info is not None and info.token_id is not None else None
        drop = self._dropped
        headers = [
            (n, v) for n, v in strip_hop_by_hop(raw)
            if (lower := n.lower()) not in drop and not lower.startswith(_ROUTING_PREFIXES)
        ]

        host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
        headers.append(("Host", host if self.preserve_host else self.upstream.netloc))
        if length is not None:
            headers.append(("Content-Length", str(length)))
        cookie = canonical_cookie_header(environ.get("HTTP_COOKIE"), self.strip_cookie_prefix)
        if cookie:
            headers.append(("Cookie", cookie))
        if token_owner is not None and self.user_header:
            headers.append((self.user_header, header_value(token_owner)))
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
            try:
                length = content_length(declared)
            except InvalidRequest as exc:
                raise _BadRequest(exc.status, exc.code, exc.text) from exc
            return length, _read_exactly(stream, length)
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return None, ()
        if not environ.get("wsgi.input_terminated"):
            raise _BadRequest(411, "length_required", N_("Send a Content-Length with the body."))
        data = stream.read(self.max_unsized_body + 1)
        if len(data) > self.max_unsized_body:
            raise _BadRequest(413, "payload_too_large", N_("The body is too large without a Content-Length."))
        return len(data), (data,) if data else ()


def _read_exactly(stream: Any, length: int) -> Iterator[bytes]:
    left = length
    while left > 0:
        data = stream.read(min(left, _CHUNK))
        if not data:  # the client went away: do not let the upstream wait for the rest
            raise _BadRequest(400, "incomplete_body", N_("The request body ended early."))
        left -= len(data)
        yield data

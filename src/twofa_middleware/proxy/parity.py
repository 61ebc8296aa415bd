"""Judge what the app will serve, or refuse: the request facts forward auth and the proxy read.

In front of an app that is not Python, the middleware and the app each parse the
request. Wherever the two could read one request two ways, the middleware would
judge one thing while the app serves another: a 2FA bypass. So nothing here is
normalised. A path or header the middleware would have to interpret (a ``\\``, a
``;`` inside a segment, an encoded ``.`` or ``/``, a dot segment, an empty
segment, repeated Cookie lines, a duplicated session cookie) is refused with a
:class:`Ambiguous` (400) and a reason, never guessed at.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, unquote_to_bytes

from ..errors import InvalidRequest
from ..i18n import N_

_HEX = frozenset("0123456789abcdefABCDEF")
# RFC 3986 unreserved characters: an escape of one is never needed, and apps
# disagree on whether they decode it before routing (``/lo%67out``).
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Escapes that would change the path's structure once decoded.
_STRUCTURAL = frozenset("/\\;%")
# Printable ASCII but ``%``: what a user name may carry as it is in a header.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")
_DIGITS = re.compile(r"[0-9]{1,19}\Z")
# RFC 6265 4.1.1: a cookie name is a token; a value is cookie-octets (no space,
# DQUOTE, comma, ';' or '\\'); a cookie-string is pairs joined by "; ".
_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_VALUE = r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*"
_COOKIE_NAME = re.compile(_NAME)
_COOKIE_VALUE = re.compile(_VALUE)
_COOKIE_STRING = re.compile(rf"{_NAME}={_VALUE}(?:; {_NAME}={_VALUE})*")


class Ambiguous(InvalidRequest):
    """The request could be read two ways (by the middleware and by the app): refused.

    :param message: which part, and why; safe to show (it names no secret).
    """

    code = "ambiguous_request"
    status = 400
    message = N_("The request could be read in more than one way.")


def judged_path(uri: str) -> tuple[str, str]:
    """``(path, query)`` of a raw request target (``X-Original-URI``) as the app will see
    it, percent-decoded as a WSGI server decodes ``PATH_INFO``; :class:`Ambiguous` when
    the app and the middleware could see different paths."""
    raw, _, query = uri.partition("?")
    if not raw.startswith("/"):
        raise Ambiguous(N_("The path must start with '/'."))
    if any(c <= " " or c >= "\x7f" for c in uri) or "#" in uri:
        raise Ambiguous(N_("The request target has spaces, control, non-ASCII or '#' characters."))
    if "\\" in raw or ";" in raw:
        raise Ambiguous(N_("The path has a '\\' or a ';'."))
    for index in (i for i, c in enumerate(raw) if c == "%"):
        byte = raw[index + 1 : index + 3]
        if len(byte) < 2 or not _HEX.issuperset(byte):
            raise Ambiguous(N_("The path has a '%' that is not an escape."))
        char = chr(int(byte, 16))
        if char in _UNRESERVED or char in _STRUCTURAL or char < " " or char == "\x7f":
            raise Ambiguous(N_("The path has an escape that apps decode differently."))
    try:  # overlong or broken UTF-8 (%C0%AE is '.' to a lax decoder) is read differently by each app
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise Ambiguous(N_("The path's escapes are not valid UTF-8.")) from None
    check_segments(raw)
    return unquote(raw, encoding="latin-1"), query


def check_segments(path: str) -> None:
    """:class:`Ambiguous` for a path with ``.``, ``..``, empty segments, ``\\``, ``;`` or
    control characters: routers resolve, merge or strip these, each in its own way."""
    if "\\" in path or ";" in path or any(c < " " or c == "\x7f" for c in path):
        raise Ambiguous(N_("The path has a '\\', a ';' or a control character."))
    segments = path.split("/")[1:]
    for position, segment in enumerate(segments):
        if segment in (".", ".."):
            raise Ambiguous(N_("The path has '.' or '..' segments."))
        if segment == "" and position < len(segments) - 1:
            raise Ambiguous(N_("The path has an empty segment ('//')."))


def cookie_ok(name: str, value: str) -> bool:
    """A cookie that can be written back as plain RFC 6265: a token name, cookie-octets only."""
    return bool(_COOKIE_NAME.fullmatch(name)) and bool(_COOKIE_VALUE.fullmatch(value))


def plain_cookie_header(header: str | None, session_cookie: str) -> None:
    r""":class:`Ambiguous` unless the Cookie header is one plain RFC 6265 line with one session cookie.

    Only ``name=value`` pairs joined by ``"; "``, names that are tokens, values of
    cookie-octets: no quotes, spaces, ``\``, ``,``, control or non-ASCII bytes.
    Parsers disagree on everything else: werkzeug reads ``a="x; sid=Y"; sid=X``
    as one quoted value then ``sid=X``, an Express-style parser as ``sid=Y``;
    servers join repeated Cookie lines with ``,`` (werkzeug, gunicorn) or
    ``"; "`` (Node, Go); apps take the first or the last of two cookies of one name.
    """
    if not header:
        return
    if not _COOKIE_STRING.fullmatch(header):
        raise Ambiguous(N_(
            "The Cookie header is not one plain line of name=value pairs "
            "(nginx: proxy_set_header Cookie $http_cookie)."
        ))
    names = [pair.partition("=")[0] for pair in header.split("; ")]
    if names.count(session_cookie) > 1:
        raise Ambiguous(N_("The session cookie is sent more than once."))


def header_value(user: str) -> str:
    """A user name as it travels in ``X-Twofa-User``: percent-encoded UTF-8.

    Printable ASCII other than ``%`` and space stays as it is (``alice``, ``a.b@example.com``);
    anything else (``%``, control characters, non-ASCII: ``Łukasz`` is
    ``%C5%81ukasz``) is escaped, so no name can split a header or fail to encode.
    Decode with ``urllib.parse.unquote``."""
    return quote(user, safe=_HEADER_SAFE)


def content_length(value: str) -> int:
    """A Content-Length of ASCII digits only (``"²".isdigit()`` is true), else :class:`InvalidRequest`."""
    if not _DIGITS.match(value):
        raise InvalidRequest(N_("Content-Length is not a number."))
    return int(value)

"""Hypothesis strategies for hostile HTTP requests.

Values that depend on the running world (session cookies, CSRF tokens, live
access tokens) come from pools the world hands in, so every strategy here
takes plain lists of strings.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from .helpers import PASSWORD, Req, well_formed_token, wsgi_str

# -- pieces ---------------------------------------------------------------------------------

METHODS = st.one_of(
    st.sampled_from(["GET", "GET", "HEAD", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    st.sampled_from(["get", "post", "TRACE", "CONNECT", "PROPFIND", "G E T", "POST\x00", ""]),
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=8),
)

# Path pieces that confuse prefix checks, routers and normalisers.
TRICKS = [
    "", "/", "//", "///", "..", "/..", "/../", "/..;/", "..;", "/.", "/./", ";", ";x=1", ";/", "/;/",
    "%2e", "%2e%2e", "/%2e%2e/", "/%2E%2e;/", "%2f", "%2F", "%5c", "%5C", "\\", "/\\", "\\..\\",
    "%252e%252e", "%25", "%", "%zz", "%00", "%0a", "%0d%0a", "%09", "%20", " ", "%ff", "%c0%ae",
    "%ed%a0%80", "%c3%a9", "é", "\u202e", "ﬃ", "\u0130", "%e2%80%ae", "?", "#", "%3f", "%23", "*", "~",
]
SEGMENTS = [
    "settings", "api", "me", "login", "register", "logout", "static", "app.css", "_2fa", "verify",
    "tokens", "disable", "setup", "recovery-codes", "recovery-codes.txt", "regenerate", "confirm-password",
    "status", "enroll", "confirm", "openapi.json", "1", "revoke", "public", "secret", "page", "Settings",
    "SETTINGS", "_2FA",
]


def _quote(text: str) -> str:
    return quote(text, safe="/;\\.%~*?#")


@st.composite
def paths(draw: st.DrawFn, known: Sequence[str]) -> str:
    """A raw request-target path (percent-encoded as a client may send it)."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return draw(st.sampled_from(known))
    if kind == 1:  # a known path with a trick before, inside or after it
        base = draw(st.sampled_from(known))
        trick = draw(st.sampled_from(TRICKS))
        where = draw(st.integers(0, len(base)))
        return base[:where] + trick + base[where:]
    if kind == 2:  # a known path, then a climb back to another
        return draw(st.sampled_from(known)) + draw(st.sampled_from(["/..", "/..;", "/%2e%2e", "/..%2f..", "\\.."])) \
            + draw(st.sampled_from(known))
    if kind == 3:  # segments and tricks
        parts = draw(st.lists(st.sampled_from(SEGMENTS + TRICKS), max_size=7))
        return "/" + "/".join(parts)
    if kind == 4:  # unicode anywhere (no lone surrogates: a request-target is bytes)
        text = draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=20))
        return draw(st.sampled_from(known)) + _quote(text)
    return _quote(draw(st.text(st.characters(exclude_categories=["Cs"]), max_size=30)))


QUERIES = st.one_of(
    st.just(""),
    st.sampled_from([
        "next=/settings", "next=//evil.example", "next=%2F%2Fevil", "next=/\\evil", "next=/%09/evil",
        "next=https://evil.example", "next=" + "a" * 3000, "new=1", "next=/_2fa/disable", "next=%ed%a0%80",
        "a=1&a=2", "next", "=", "&&", "%", "%zz",
    ]),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30).map(lambda t: quote(t, safe="=&")),
)

CONTENT_TYPES = st.sampled_from([
    None, "application/json", "application/json", "application/json; charset=utf-8", "Application/JSON",
    "application/json;charset=utf-16", "application/json, text/plain", "application/jsonx", "text/json",
    "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz",
    "multipart/form-data", "", "\x00", "application/json; charset=\u00e9", "application/json; boundary=\"",
])

# Content-Length values a server passes on as they are (werkzeug's dev server does).
CONTENT_LENGTHS = st.sampled_from([
    "0", "1", "²", "¹²", "٣", "߁", "-1", "+1", " 1", "1 ", "1e2", "0x10", "99999999999999999999999",
    "", "abc", "1,1", "1.0",
])

ACCEPTS = st.sampled_from(
    [None, "text/html", "application/json", "*/*", "text/html;q=0", "", "application/json, text/html"]
)
X_REQUESTED_WITH = st.sampled_from([None, None, "XMLHttpRequest", "xmlhttprequest", "fetch"])
ORIGINS = st.sampled_from([None, None, None, "null", "http://localhost", "http://evil.example", "http://localhost:80"])


def authorizations(valid_tokens: Sequence[str]) -> st.SearchStrategy[str | None]:
    well_formed = st.integers(0, 2**256).map(well_formed_token)
    token = st.sampled_from(list(valid_tokens)) if valid_tokens else well_formed
    return st.one_of(
        st.just(None),
        st.just(None),
        token.map(lambda t: f"Bearer {t}"),
        well_formed.map(lambda t: f"Bearer {t}"),
        token.map(lambda t: f"bearer   {t}  "),
        token.map(lambda t: f"Bearer {t[:-1]}"),
        token.map(lambda t: f"Bearer {t} extra"),
        token.map(lambda t: f"Basic {t}"),
        st.sampled_from(["Bearer", "Bearer ", "Bearer tfa_", "Basic YW5uOmNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU=",
                         "Basic !!!", "Bearer \u00e9\u00e9", "Digest x", "Bearer " + "A" * 4000, "BEARER x"]),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=60).map(lambda t: "Bearer " + t),
    )


GARBAGE_COOKIE_VALUES = ['', '"', '"a;b"', '\\', '%00', 'a b', 'x' * 5000, '"quoted"', '=', ';', 'é', '\x7f']


def cookie_headers(named: dict[str, Sequence[str]]) -> st.SearchStrategy[str | None]:
    """A Cookie header from ``named`` (cookie name -> values worth trying) and garbage:
    duplicate names, case and space variants, broken quoting."""
    names = sorted(named)
    name_variants = st.one_of(
        st.sampled_from(names),
        st.sampled_from(names).map(str.upper),
        st.sampled_from(names).map(lambda n: f" {n} "),
        st.sampled_from(names).map(lambda n: quote(n).replace("_", "%5F")),
        st.text(string.ascii_letters + "_-.%", min_size=1, max_size=10),
    )

    @st.composite
    def pair(draw: st.DrawFn) -> str:
        if draw(st.booleans()):
            name = draw(st.sampled_from(names))
            value = draw(st.sampled_from(list(named[name]) or [""]))
        else:
            name = draw(name_variants)
            pool = [v for vs in named.values() for v in vs] + GARBAGE_COOKIE_VALUES
            value = draw(st.one_of(st.sampled_from(pool), st.text(max_size=20)))
        return f"{name}={value}" if draw(st.integers(0, 9)) else name

    return st.one_of(
        st.just(None),
        st.lists(pair(), min_size=1, max_size=5).flatmap(
            lambda parts: st.sampled_from(["; ", ";", ", ", " ;  "]).map(lambda sep: sep.join(parts))
        ),
    )


# -- bodies -----------------------------------------------------------------------------------

SPECIAL_STRINGS = [
    "\ud800", "/\ud800", "a\udfffb", "\ufb2c" * 100, "\ufb2c" * 34, "\u0344" * 60, "A" * 70_000, "A" * 1025,
    "x" * 100, "x" * 101, "123456", " 123 456 ", "١٢٣٤٥٦", "²³⁴⁵⁶⁷", "12345\u0000", "abcde-fghjk",
    "ABCDE FGHJK", "\u0000", "/api", "/api/", "/", "//evil", "/a b", "/\u00e9", "/\u2028", "api", "", " ",
    PASSWORD, "\t", "\u202e", "null", "😀" * 30,
]
FIELDS = ["password", "code", "name", "expires_in_days", "paths", "username", "confirm", "next", "csrf_token"]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**80), 2**80),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30), st.sampled_from(SPECIAL_STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
targeted_objects = st.dictionaries(
    st.sampled_from(FIELDS),
    st.one_of(json_values, st.sampled_from(SPECIAL_STRINGS), st.lists(st.sampled_from(SPECIAL_STRINGS), max_size=25),
              st.integers(-5, 4000)),
    max_size=4,
)
RAW_JSON = [
    b"", b"{", b"[" * 50_000, b"{\"a\":" * 20_000, b"NaN", b"{\"name\": \"x\", \"name\": \"y\"}",
    b"{\"name\": \"x\", \"expires_in_days\": 1e999}", b"{\"code\": 123456}", b"\xff\xfe{}", b"\xef\xbb\xbf{}",
    b"{\"password\": \"\xed\xa0\x80\"}", b"{\"password\": \"\\ud800\"}", b"{\"code\": \"\\udc00\"}",
    b"{} {}", b"{\"password\": Infinity}", b"\x00", b"1" * 5000, b"{\"paths\": [\"/\\ud800\"], \"name\": \"n\"}",
]


@st.composite
def json_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.sampled_from(RAW_JSON))
    value = draw(targeted_objects if kind < 3 else json_values)
    if draw(st.booleans()):
        return json.dumps(value).encode()  # \uXXXX escapes: lone surrogates survive as valid JSON text
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def form_bodies(csrf_pool: Sequence[str]) -> st.SearchStrategy[bytes]:
    value = st.one_of(
        st.sampled_from(SPECIAL_STRINGS[:3] + SPECIAL_STRINGS[4:]),  # no 70 kB strings here: forms cap at 64 KiB
        st.text(max_size=20),
        st.sampled_from(list(csrf_pool) or [""]),
    )
    fields = st.lists(st.tuples(st.sampled_from([*FIELDS, "saved", "expires_days", "x"]), value), max_size=6)

    def encode(pairs: list[tuple[str, str]]) -> bytes:
        return urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs]).encode("ascii")

    return st.one_of(
        fields.map(encode),
        st.sampled_from([b"", b"%", b"a=%zz&&=", b"csrf_token=" + b"A" * 70_000, b"a=" + b"%ff" * 10, b"\xff\xfe"]),
    )


@st.composite
def bodies(draw: st.DrawFn, content_type: str | None, csrf_pool: Sequence[str]) -> bytes:
    if content_type and "json" in content_type.lower() and draw(st.integers(0, 4)):
        return draw(json_bodies())
    if content_type and "form" in content_type and draw(st.integers(0, 4)):
        return draw(form_bodies(csrf_pool))
    return draw(st.one_of(st.just(b""), json_bodies(), form_bodies(csrf_pool), st.binary(max_size=64)))


# -- whole requests -----------------------------------------------------------------------------

NO_EXTRA_HEADERS: st.SearchStrategy[list[tuple[str, str]]] = st.just([])


@st.composite
def requests(
    draw: st.DrawFn,
    *,
    known_paths: Sequence[str],
    cookies: dict[str, Sequence[str]],
    tokens: Sequence[str] = (),
    csrf: Sequence[str] = (),
    methods: st.SearchStrategy[str] = METHODS,
    extra_headers: st.SearchStrategy[list[tuple[str, str]]] = NO_EXTRA_HEADERS,
    cookie_header: st.SearchStrategy[str | None] | None = None,
) -> Req:
    method = draw(methods)
    content_type = draw(CONTENT_TYPES)
    body = draw(bodies(content_type, csrf)) if method not in ("GET", "HEAD") or draw(st.integers(0, 9)) == 0 else b""
    headers: list[tuple[str, str]] = []

    def add(name: str, value: str | None) -> None:
        if value is not None:
            headers.append((name, wsgi_str(value)))

    add("Content-Type", content_type)
    if draw(st.integers(0, 3)) == 0:
        add("Content-Length", draw(CONTENT_LENGTHS))
    add("Accept", draw(ACCEPTS))
    add("X-Requested-With", draw(X_REQUESTED_WITH))
    add("Origin", draw(ORIGINS))
    for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 4)) == 0 else 1):
        add("Authorization", draw(authorizations(tokens)))
    add("Cookie", draw(cookie_header if cookie_header is not None else cookie_headers(cookies)))
    headers += draw(extra_headers)
    return Req(method=method, path=draw(paths(known_paths)), query=draw(QUERIES), headers=headers, body=body)

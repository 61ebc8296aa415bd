"""Small helpers for the fuzz suite: raw WSGI requests, database snapshots and resets.

Copied on purpose rather than imported from the other test packages: the fuzz
suite stands on its own (see tests/fuzz/README.md).
"""

from __future__ import annotations

import io
import re
import sqlite3
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request

SECRET_KEY = "fuzz-secret-key-0123456789abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
MOUNT = "/_2fa"
API = f"{MOUNT}/api"


# -- raw requests ------------------------------------------------------------------------


def path_info_of(raw_target_path: str) -> str:
    """PATH_INFO as a WSGI server builds it from the request-target's path:
    percent-decoded to bytes, then those bytes read as latin-1 (PEP 3333)."""
    return unquote_to_bytes(raw_target_path).decode("latin-1")


def wsgi_str(text: str) -> str:
    """A header value as a server hands it over: its UTF-8 bytes read as latin-1."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


@dataclass
class Req:
    """One request exactly as the fuzzer built it. ``path`` is the raw request-target path
    (what the client sends); ``headers`` are (name, value) pairs, values already WSGI strs."""

    method: str = "GET"
    path: str = "/"
    query: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def path_info(self) -> str:
        return path_info_of(self.path)

    def header(self, name: str) -> str | None:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        if not values:
            return None
        return ("; " if name.lower() == "cookie" else ", ").join(values)

    def environ(self) -> dict[str, Any]:
        builder = EnvironBuilder(method="GET", path="/")
        try:
            env = builder.get_environ()
        finally:
            builder.close()
        env.pop("CONTENT_TYPE", None)
        env.pop("CONTENT_LENGTH", None)
        env["REQUEST_METHOD"] = self.method
        env["PATH_INFO"] = self.path_info
        env["QUERY_STRING"] = self.query
        env["REQUEST_URI"] = env["RAW_URI"] = self.path + (f"?{self.query}" if self.query else "")
        env["REMOTE_ADDR"] = "127.0.0.1"
        env["wsgi.input"] = io.BytesIO(self.body)
        if self.body:
            env["CONTENT_LENGTH"] = str(len(self.body))
        for name in {n.lower() for n, _ in self.headers}:
            value = self.header(name)
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                env[key] = value
            else:
                env["HTTP_" + key] = value
        return env

    def curl(self) -> str:
        """The request, printed for a report."""
        lines = [f"{self.method} {self.path}{'?' + self.query if self.query else ''}"]
        lines += [f"{n}: {v!r}" for n, v in self.headers]
        if self.body:
            lines.append(f"body: {self.body[:300]!r}{' ...' if len(self.body) > 300 else ''} ({len(self.body)} bytes)")
        return "\n".join(lines)


@dataclass
class Resp:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    error: str | None = None  # the traceback when the app raised instead of answering
    reached_app: bool = False  # the middleware let it through: a 4xx is then the app's own answer

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def cookies(self) -> dict[str, str]:
        """The cookies this answer sets, by name."""
        out = {}
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                k, _, v = value.split(";", 1)[0].partition("=")
                out[k.strip()] = v.strip()
        return out


def send(app: Any, req: Req) -> Resp:
    """Run one request through ``app`` in-process with werkzeug's test client.

    An exception escaping the app is what a server turns into a 500: it is
    reported as one, with its traceback."""
    client = Client(app, use_cookies=False)
    try:
        response = client.open(Request(req.environ()), buffered=True)
    except Exception:  # noqa: BLE001 - an escaping exception is exactly the 500 we look for
        return Resp(500, {}, b"", traceback.format_exc())
    return Resp(response.status_code, list(response.headers.items()), response.get_data())


def describe(req: Req, resp: Resp) -> str:
    tail = resp.error.strip().splitlines()[-6:] if resp.error else [resp.text[:300]]
    return f"\n--- request ---\n{req.curl()}\n--- answer {resp.status} ---\n" + "\n".join(tail)


def assert_no_5xx(req: Req, resp: Resp, allowed: tuple[int, ...] = ()) -> None:
    assert resp.status < 500 or resp.status in allowed, f"5xx answer{describe(req, resp)}"


# -- tokens -----------------------------------------------------------------------------

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def well_formed_token(n: int) -> str:
    """A token with the right prefix, length, alphabet and checksum that was never issued."""
    body = _base62(n, 43)
    return "tfa_" + body + _base62(zlib.crc32(body.encode("ascii")), 6)


# -- the database -----------------------------------------------------------------------

# What a 4xx answer may change, and why:
# - twofa_security_log: records failures on purpose (wrong codes, wrong
#   passwords, which also drive the password throttle).
# - twofa_users.failures and twofa_users.locked_until: the wrong-code counter
#   and the lockout it leads to; a wrong code is a 400/409 *and* a counted failure.
EXCLUDED_TABLES = frozenset({"twofa_security_log"})
EXCLUDED_COLUMNS = {
    "twofa_users": frozenset({"failures", "locked_until"}),
}
# - a twofa_users row with nothing in it: a wrong password is a counted failure,
#   reserved under the user's row lock, and that lock needs the row. An empty row
#   means exactly what no row means (2FA off, nothing pending).
_EMPTY_USER = {"secret": None, "enabled_at": None, "pending_secret": None, "pending_since": None,
               "last_step": 0, "epoch": 0}


def _meaningful(table: str, row: tuple) -> bool:
    if table != "twofa_users":
        return True
    values = dict(row)
    return any(values.get(k) != v for k, v in _EMPTY_USER.items())


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def tables(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]


def snapshot(path: str, *, excluded: bool = True) -> dict[str, list[tuple]]:
    """Every row of every table (bar what 4xx answers may change), in a stable order."""
    conn = _connect(path)
    try:
        out: dict[str, list[tuple]] = {}
        for table in tables(conn):
            if excluded and table in EXCLUDED_TABLES:
                continue
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            keep = [c for c in columns if not (excluded and c in EXCLUDED_COLUMNS.get(table, ()))]
            select = ", ".join(f'"{c}"' for c in keep)
            rows = conn.execute(f'SELECT {select} FROM "{table}"').fetchall()
            out[table] = sorted(
                r for r in (tuple(zip(keep, row, strict=True)) for row in rows) if not excluded or _meaningful(table, r)
            )
        return out
    finally:
        conn.close()


def diff(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> str:
    lines: list[str] = []
    for table in sorted(before.keys() | after.keys()):
        old, new = set(before.get(table, [])), set(after.get(table, []))
        lines.extend(f"  {table} - {dict(row)}" for row in sorted(old - new, key=repr))
        lines.extend(f"  {table} + {dict(row)}" for row in sorted(new - old, key=repr))
    return "\n".join(lines)


def dump(path: str) -> dict[str, tuple[list[str], list[tuple]]]:
    """Everything, to restore later (the security log too)."""
    conn = _connect(path)
    try:
        out = {}
        for table in tables(conn):
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            out[table] = (columns, conn.execute(f'SELECT * FROM "{table}"').fetchall())
        return out
    finally:
        conn.close()


def restore(path: str, saved: dict[str, tuple[list[str], list[tuple]]]) -> None:
    """Put every table back as :func:`dump` found it."""
    conn = _connect(path)
    try:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("BEGIN IMMEDIATE")
        for table, (columns, rows) in saved.items():
            conn.execute(f'DELETE FROM "{table}"')
            if rows:
                marks = ", ".join("?" for _ in columns)
                conn.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def clear_caches(middleware: Any) -> None:
    """Forget every in-process cache of 2FA state, as after a restart."""
    middleware.forget_cached()


# -- pages ------------------------------------------------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)

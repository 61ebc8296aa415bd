"""Reverse-proxy mode: the middleware in front of an app that knows nothing of Python 2FA.

The upstream here is a bare WSGI app standing in for a Node, Go or PHP app: its
own sessions in a dict, a naive cookie parser of its own, a JSON login, a
who-am-I endpoint, an HTML page and an echo of what it received. It runs on one
loopback port, the proxy with the middleware on another, and the tests talk
HTTP to the proxy only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from click.testing import CliRunner
from werkzeug.test import Client

from tests.helpers import SECRET_KEY, serve
from tests.integration.api_support import API, PASSWORD, ApiClient, Authenticator
from twofa_middleware import SQLAlchemyStore
from twofa_middleware.cli import main as cli_main
from twofa_middleware.errors import StoreUnavailable
from twofa_middleware.proxy import ForwardAuth, ReverseProxy, canonical_cookie_header, proxy_app, strip_hop_by_hop
from twofa_middleware.testing import FixedClock

# -- the upstream: an app that is not Python, as far as the middleware can tell ------


@dataclass
class Upstream:
    users: dict[str, str] = field(default_factory=lambda: {"ann": PASSWORD, "bob": PASSWORD})
    sessions: dict[str, str] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def cookies(environ: dict[str, Any]) -> dict[str, str]:
        """A naive parser, as many non-Python frameworks have: split on ';', first name wins."""
        jar: dict[str, str] = {}
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            jar.setdefault(name, value)
        return jar

    def user(self, environ: dict[str, Any]) -> str | None:
        """As loose as real apps are: HTTP Basic with the password works too (as on
        Gitea or Jenkins), and the cookie name is read case-insensitively (as ASP.NET
        does) and percent-decoded (as PHP and Rack do)."""
        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme == "Basic":
            name, _, password = base64.b64decode(credentials).decode().partition(":")
            return name if self.users.get(name) == password else None
        sid = next((v for k, v in self.cookies(environ).items() if unquote(k).lower() == "sid"), "")
        return self.sessions.get(sid)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        with self.lock:
            self.hits[path] += 1
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""

        def answer(status: str, payload: Any, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
            start_response(status, [("Content-Type", "application/json"), *(headers or [])])
            return [json.dumps(payload).encode()]

        if path == "/login" and environ["REQUEST_METHOD"] == "POST":
            data = json.loads(body or b"{}")
            if self.users.get(data.get("username")) != data.get("password"):
                return answer("401 Unauthorized", {"error": "bad credentials"})
            sid = secrets.token_urlsafe(16)  # a new session id at every sign-in
            self.sessions[sid] = data["username"]
            return answer(
                "200 OK",
                {"user": data["username"]},
                [("Set-Cookie", f"sid={sid}; Path=/; HttpOnly"), ("Set-Cookie", "theme=dark; Path=/")],
            )
        if path == "/whoami":
            user = self.user(environ)
            return answer("200 OK", {"user": user}) if user else answer("401 Unauthorized", {"user": None})
        if path == "/api/me":
            user = self.user(environ)
            return answer("200 OK", {"user": user}) if user else answer("401 Unauthorized", {"error": "sign in"})
        if path == "/page":
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<h1>upstream page</h1>"]
        if path == "/echo":
            headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
            return answer(
                "200 OK",
                {
                    "method": environ["REQUEST_METHOD"],
                    "path": path,
                    "query": environ.get("QUERY_STRING", ""),
                    "headers": headers,
                    "body_length": len(body),
                    "body_sha256": hashlib.sha256(body).hexdigest(),
                },
            )
        if path == "/hop":
            start_response(
                "200 OK",
                [("Content-Type", "text/plain"), ("Connection", "X-Upstream-Private"),
                 ("X-Upstream-Private", "1"), ("Keep-Alive", "timeout=5"), ("X-Kept", "yes")],
            )
            return [b"hop"]
        if path == "/slow":
            time.sleep(1.5)
            return answer("200 OK", {"slow": True})
        if path == "/whoami-broken":
            return answer("500 Internal Server Error", {"error": "db down"})
        return answer("404 Not Found", {"error": "not found"})


@dataclass
class Stack:
    upstream: Upstream
    upstream_url: str
    url: str
    middleware: Any
    clock: FixedClock

    def client(self) -> ApiClient:
        return ApiClient(self.url)

    def login(self, client: ApiClient, user: str = "ann") -> requests.Response:
        client.http.cookies.clear()
        r = client.request("POST", "/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return r


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    upstream = Upstream()
    upstream_url, upstream_server, upstream_thread = serve(upstream)
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db")
    middleware = proxy_app(
        upstream_url, secret_key=SECRET_KEY, store=store, whoami_path="/whoami", session_cookie="sid",
        login_path="/login", issuer="Proxied", timeout=1.0,
    )
    clock = FixedClock(float(int(time.time()) // 30 * 30 + 15))
    middleware.service.clock = clock
    url, server, thread = serve(middleware)
    try:
        yield Stack(upstream, upstream_url, url, middleware, clock)
    finally:
        server.shutdown()
        upstream_server.shutdown()
        thread.join(5)
        upstream_thread.join(5)
        store.dispose()


def enrolled(stack: Stack, user: str = "ann") -> tuple[ApiClient, Authenticator]:
    """``user`` with 2FA on, then signed in again with the password only."""
    client = stack.client()
    stack.login(client, user)
    app, _ = client.enable(stack.clock)
    stack.login(client, user)
    return client, app


# -- the whole flow ---------------------------------------------------------------------


def test_sign_in_enroll_and_verify_through_the_proxy(stack):
    client = stack.client()
    stack.login(client)
    assert client.me().json() == {"user": "ann"}  # no 2FA yet: straight through
    app, codes = client.enable(stack.clock)
    assert len(codes) == 10

    stack.login(client)  # a new sign-in: a new sid upstream, the second factor owed again
    before = stack.upstream.hits["/api/me"]
    r = client.me()
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    r = client.request("GET", "/page", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["Location"] == "/_2fa/verify?next=/page"
    assert stack.upstream.hits["/api/me"] == before and stack.upstream.hits["/page"] == 0

    r = client.verify(app.code())
    assert r.status_code == 200 and r.json()["verified"] is True
    assert client.me().json() == {"user": "ann"}
    assert stack.upstream.hits["/api/me"] == before + 1
    page = client.request("GET", "/page", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.text == "<h1>upstream page</h1>"


def test_a_wrong_password_is_refused_by_the_upstream_login(stack):
    client = stack.client()
    stack.login(client)
    r = client.post("/confirm-password", {"password": "not it"})
    assert r.status_code == 403 and r.json()["error"] == "invalid_password"


def test_the_middlewares_cookies_never_reach_the_upstream(stack):
    client, app = enrolled(stack)
    assert client.verify(app.code()).status_code == 200
    assert any(c.name.startswith("twofa_") for c in client.http.cookies)
    seen = client.request("GET", "/echo").json()["headers"]
    names = [part.split("=")[0] for part in seen["cookie"].split("; ")]
    assert "sid" in names and "theme" in names
    assert not [n for n in names if n.startswith("twofa_")]


def test_forwarded_headers_are_set_and_host_is_the_upstreams(stack):
    r = requests.get(
        stack.url + "/echo?a=1&b=%20x",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"},
        timeout=10,
    )
    echo = r.json()
    assert echo["query"] == "a=1&b=%20x"
    headers = echo["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == stack.url.removeprefix("http://")
    assert headers["host"] == stack.upstream_url.removeprefix("http://")


def test_hop_by_hop_headers_are_dropped_both_ways(stack):
    r = requests.get(
        stack.url + "/echo",
        headers={"Connection": "keep-alive, X-Client-Private", "X-Client-Private": "secret",
                 "Keep-Alive": "timeout=5", "TE": "trailers", "Proxy-Authorization": "Basic eDp5",
                 "Upgrade": "websocket", "X-Normal": "kept"},
        timeout=10,
    )
    headers = r.json()["headers"]
    for name in ("x-client-private", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert name not in headers, name
    assert headers["x-normal"] == "kept"

    r = requests.get(stack.url + "/hop", timeout=10)
    assert r.text == "hop" and r.headers["X-Kept"] == "yes"
    assert "X-Upstream-Private" not in r.headers and "Keep-Alive" not in r.headers


def test_every_set_cookie_comes_back(stack):
    r = requests.post(stack.url + "/login", json={"username": "ann", "password": PASSWORD}, timeout=10)
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert [c.split("=")[0] for c in cookies] == ["sid", "theme"]


def test_request_bodies_are_passed_on_whole(stack):
    body = secrets.token_bytes(300_000)
    echo = requests.post(stack.url + "/echo", data=body, timeout=10).json()
    assert echo["method"] == "POST"
    assert echo["body_length"] == len(body) and echo["body_sha256"] == hashlib.sha256(body).hexdigest()

    chunked = requests.post(stack.url + "/echo", data=iter([b"abc", b"def"]), timeout=10)  # no length
    assert chunked.json()["body_length"] == 6


def test_a_chunked_body_over_the_limit_is_refused(stack):
    url, server, thread = serve(ReverseProxy(stack.upstream_url, max_unsized_body=1000))
    try:
        r = requests.post(url + "/echo", data=iter([b"x" * 800, b"x" * 800]), timeout=10)
        assert r.status_code == 413
        assert stack.upstream.hits["/echo"] == 0
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.parametrize("path", ["/static/../api/me", "/static/./x", "/a/..\\api/me", "/static/..;/api/me"])
def test_a_path_with_dot_segments_is_refused(stack, path):
    """The middleware judged the path as written; the upstream would serve it resolved."""
    environ_path = {"PATH_INFO": path}
    r = Client(stack.middleware.app, use_cookies=False).get("/", environ_overrides=environ_path)
    assert r.status_code == 400
    assert stack.upstream.hits == Counter()


def test_a_query_string_with_control_characters_is_refused(stack):
    r = Client(stack.middleware.app, use_cookies=False).get(
        "/", environ_overrides={"PATH_INFO": "/echo", "QUERY_STRING": "a=1\x01b"}
    )
    assert r.status_code == 400
    assert stack.upstream.hits == Counter()


def test_a_response_framed_both_ways_reaches_the_client_with_one_framing():
    """An upstream sending Content-Length beside Transfer-Encoding: chunked. The body
    is passed on de-chunked; a Content-Length of 3 beside it would let a client read
    the rest as a second response."""
    body = b"abcHTTP/1.1 200 OK\r\nX-Evil: 1\r\n\r\n"
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                         + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    url, server, server_thread = serve(ReverseProxy(f"http://127.0.0.1:{listener.getsockname()[1]}"))
    try:
        r = requests.get(url + "/", timeout=10)
        assert r.content == body
        assert r.headers.get("Content-Length") in (None, str(len(body)))
    finally:
        server.shutdown()
        server_thread.join(5)
        listener.close()


def test_a_crafted_cookie_header_reaches_the_upstream_as_the_middleware_read_it(stack):
    victim = stack.client()
    stack.login(victim, "bob")
    victim_sid = victim.http.cookies["sid"]
    # werkzeug reads x as '; sid=<victim>; ' and sid as "mallory"; a naive parser
    # splitting on ';' would read sid as the victim's.
    header = f'x="; sid={victim_sid}; "; sid=mallory'
    seen = requests.get(stack.url + "/echo", headers={"Cookie": header}, timeout=10).json()["headers"]
    assert seen["cookie"] == "sid=mallory"
    header = f"sid=mallory; sid={victim_sid}"
    seen = requests.get(stack.url + "/echo", headers={"Cookie": header}, timeout=10).json()["headers"]
    assert seen["cookie"] == "sid=mallory"


def test_a_token_request_reaches_the_upstream_without_the_token_or_cookies(stack):
    client = stack.client()
    stack.login(client)
    client.sudo()
    _, token = client.create_token()
    r = requests.get(
        stack.url + "/echo", headers={"Authorization": f"Bearer {token}", "Cookie": "sid=x"}, timeout=10
    )
    assert r.status_code == 200
    headers = r.json()["headers"]
    assert "authorization" not in headers and "cookie" not in headers
    assert headers["x-twofa-user"] == "ann"  # whose token it was, set by the proxy alone


def test_no_other_credential_reaches_the_upstream_past_the_second_factor(stack):
    """The upstream takes HTTP Basic and reads cookie names loosely: neither may
    sign in a user who owes the second factor."""
    client, _ = enrolled(stack)
    sid = client.http.cookies["sid"]
    assert client.me().status_code == 401  # the session itself: challenged

    r = requests.get(stack.url + "/api/me", auth=("ann", PASSWORD), timeout=10)
    assert r.status_code == 401 and r.json() == {"error": "sign in"}  # the upstream saw no credential
    echo = requests.get(stack.url + "/echo", auth=("ann", PASSWORD), timeout=10).json()
    assert "authorization" not in echo["headers"]

    # The upstream reads SID as sid: who-am-I is asked with what the upstream gets,
    # so it is ann, without the exact session cookie the second factor is bound to.
    for header in (f"SID={sid}", f"theme=dark; Sid={sid}"):
        before = stack.upstream.hits["/api/me"]
        r = requests.get(stack.url + "/api/me", headers={"Cookie": header, "Accept": "application/json"},
                         timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "two_factor_required", header
        assert stack.upstream.hits["/api/me"] == before


def test_nobody_is_never_remembered(stack):
    """Any cookie may be the session to the upstream (PHP decodes names): a header
    that was nobody's a moment ago may be signed in now, without a new session id."""
    def me(cookie: str) -> requests.Response:
        return requests.get(stack.url + "/api/me", headers={"Cookie": cookie, "Accept": "application/json"},
                            timeout=10)

    enrolled(stack)  # ann owes the second factor
    before = stack.upstream.hits["/whoami"]
    assert me("theme=dark; s%69d=fixed-id").json() == {"error": "sign in"}
    stack.upstream.sessions["fixed-id"] = "ann"  # signed in, with the same id
    r = me("theme=dark; s%69d=fixed-id")
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    assert stack.upstream.hits["/whoami"] == before + 2


def test_headers_a_client_could_route_or_pose_by_are_removed(stack):
    sent = {
        "X-Original-URL": "/admin", "X-Rewrite-URL": "/admin", "Forwarded": "for=1.2.3.4;host=evil",
        "X-Real-IP": "1.2.3.4", "X-Forwarded-Port": "443", "X-Forwarded-Prefix": "/evil",
        "X-Twofa-User": "admin", "X-Twofa-Anything": "1", "X-Normal": "kept",
    }
    headers = requests.get(stack.url + "/echo", headers=sent, timeout=10).json()["headers"]
    assert headers["x-normal"] == "kept"
    for name in sent:
        if name != "X-Normal":
            assert name.lower() not in headers, name


# -- the upstream in trouble ------------------------------------------------------------


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_an_unreachable_upstream_is_a_502_never_a_crash(tmp_path):
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/down.db")
    middleware = proxy_app(
        _closed_port(), secret_key=SECRET_KEY, store=store, whoami_path="/whoami", session_cookie="sid",
        login_path="/login",
    )
    url, server, thread = serve(middleware)
    try:
        r = requests.get(url + "/api/me", headers={"Accept": "application/json"}, timeout=10)
        assert r.status_code == 502 and r.json()["error"] == "upstream_unavailable"
        # With a session cookie, identify cannot ask who it is: 502, not "nobody" and not a 500.
        r = requests.get(url + "/api/me", headers={"Cookie": "sid=abc", "Accept": "application/json"}, timeout=10)
        assert r.status_code == 502 and r.json()["error"] == "upstream_unavailable"
        r = requests.get(url + "/page", headers={"Cookie": "sid=abc", "Accept": "text/html"}, timeout=10)
        assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/plain")
        r = requests.get(url + API + "/status", headers={"Cookie": "sid=abc"}, timeout=10)
        assert r.status_code == 502 and r.json()["error"] == "upstream_unavailable"
    finally:
        server.shutdown()
        thread.join(5)
        store.dispose()


def test_a_slow_upstream_is_a_504(stack):
    r = requests.get(stack.url + "/slow", headers={"Accept": "application/json"}, timeout=10)
    assert r.status_code == 504 and r.json()["error"] == "upstream_timeout"


def test_a_failing_whoami_fails_closed(stack, tmp_path):
    """A 5xx from who-am-I does not mean "nobody": the request is not forwarded."""
    client, _ = enrolled(stack)
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/twofa.db")
    broken = proxy_app(
        stack.upstream_url, secret_key=SECRET_KEY, store=store, whoami_path="/whoami-broken",
        session_cookie="sid", login_path="/login",
    )
    try:
        before = stack.upstream.hits["/api/me"]
        r = Client(broken, use_cookies=False).get("/api/me", headers={"Cookie": f"sid={client.http.cookies['sid']}",
                                                   "Accept": "application/json"})
        assert r.status_code == 502
        assert stack.upstream.hits["/api/me"] == before
    finally:
        store.dispose()


# -- forward auth -----------------------------------------------------------------------


def test_forward_auth_answers_for_anonymous_unverified_and_verified(stack):
    auth = Client(ForwardAuth(stack.middleware), use_cookies=False)

    def ask(uri: str, cookie: str | None = None) -> Any:
        headers = {"X-Original-URI": uri, "X-Original-Method": "GET"}
        if cookie:
            headers["Cookie"] = cookie
        return auth.get("/_twofa_auth", headers=headers)

    # Anonymous: allowed, as in the middleware's own flow; the app handles sign-in.
    r = ask("/api/me")
    assert r.status_code == 200 and "X-Twofa-User" not in r.headers

    client, app = enrolled(stack)
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    r = ask("/api/me?x=1", cookie)
    assert r.status_code == 401
    assert r.headers["X-Twofa-Verify-Url"] == "/_2fa/verify?next=/api/me%3Fx%3D1"
    r = ask("/static/../api/me", cookie)  # the app could serve another path than the one judged
    assert r.status_code == 403 and r.json["error"] == "ambiguous_request"

    # The 2FA pages and API are served by the same app.
    r = auth.get(API + "/status", headers={"Cookie": cookie})
    assert r.status_code == 200 and r.json["enabled"] is True

    assert client.verify(app.code()).status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    r = ask("/api/me", cookie)
    assert r.status_code == 200 and r.headers["X-Twofa-User"] == "ann"
    assert stack.upstream.hits["/api/me"] == 0  # it only decides; nginx proxies


def test_forward_auth_asks_who_am_i_with_the_cookie_header_the_app_will_get(stack):
    """nginx passes the client's Cookie header on as it is: a header werkzeug reads
    as one session and the app as another is never judged at all (refused)."""
    client, _ = enrolled(stack)  # ann owes the second factor
    mallory = stack.client()
    stack.login(mallory, "bob")  # and bob has no 2FA: let through
    header = f'x="; sid={client.http.cookies["sid"]}; "; sid={mallory.http.cookies["sid"]}'
    r = Client(ForwardAuth(stack.middleware), use_cookies=False).get(
        "/_twofa_auth", headers={"X-Original-URI": "/api/me", "Cookie": header}
    )
    assert r.status_code == 403 and r.json["error"] == "ambiguous_request"
    assert "X-Twofa-User" not in r.headers


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Forwarded-Uri": "/_2fa/x"},  # a client's copy, beside the one nginx sets
        {"X-Original-URL": "/_2fa/x"},
        {"X-Rewrite-URL": "/static/x"},
    ],
    ids=["no-uri", "two-uris", "x-original-url", "x-rewrite-url"],
)
def test_forward_auth_refuses_headers_that_could_pick_the_path_judged(stack, headers):
    client, _ = enrolled(stack)  # owes the second factor
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    sent = {"Cookie": cookie, **headers}
    if headers:
        sent["X-Original-URI"] = "/api/me"
    r = Client(ForwardAuth(stack.middleware), use_cookies=False).get("/_twofa_auth", headers=sent)
    assert r.status_code == 400 and r.json["error"] == "invalid_request"


@pytest.mark.parametrize("uri", ["/_2fa/", "/_2fa", "/_2fa/verify?next=/api/me"])
def test_forward_auth_never_lets_a_path_through_for_being_under_the_mount(stack, uri):
    """The front proxy routes the mount to the middleware itself: a mount path in
    auth_request is one the app would serve, and it once got a 200 for that alone."""
    client, _ = enrolled(stack)  # owes the second factor
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    r = Client(ForwardAuth(stack.middleware), use_cookies=False).get(
        "/_twofa_auth", headers={"Cookie": cookie, "X-Original-URI": uri}
    )
    assert r.status_code == 403 and r.json["error"] == "invalid_request"
    assert "X-Twofa-User" not in r.headers


def test_forward_auth_refuses_a_token_with_cookies_and_any_other_authorization(stack):
    bob = stack.client()
    stack.login(bob, "bob")
    bob.sudo()
    _, token = bob.create_token()
    victim, _ = enrolled(stack)  # a session that owes the second factor
    auth = Client(ForwardAuth(stack.middleware), use_cookies=False)

    def ask(headers: dict[str, str]) -> Any:
        return auth.get("/_twofa_auth", headers={"X-Original-URI": "/api/me", **headers})

    r = ask({"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.headers["X-Twofa-User"] == "bob"
    r = ask({"Authorization": f"Bearer {token}", "Cookie": f"sid={victim.http.cookies['sid']}"})
    assert r.status_code == 401 and "X-Twofa-User" not in r.headers and r.json["error"] == "invalid_request"
    basic = base64.b64encode(f"ann:{PASSWORD}".encode()).decode()
    r = ask({"Authorization": f"Basic {basic}"})
    assert r.status_code == 401 and "X-Twofa-User" not in r.headers


def test_forward_auth_fails_closed_when_the_store_is_down(stack, monkeypatch):
    client, app = enrolled(stack)
    assert client.verify(app.code()).status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.http.cookies)
    store = stack.middleware.service.store

    def down(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable()

    monkeypatch.setattr(store, "user_state", down)
    # Another instance sharing the store (and the keys): nothing of ann cached there.
    other = proxy_app(stack.upstream_url, secret_key=SECRET_KEY, store=store, whoami_path="/whoami",
                      session_cookie="sid", login_path="/login")
    r = Client(ForwardAuth(other), use_cookies=False).get(
        "/_twofa_auth", headers={"X-Original-URI": "/api/me", "Cookie": cookie}
    )
    assert r.status_code == 503 and "X-Twofa-User" not in r.headers


def test_forward_auth_passes_on_a_bad_token(stack):
    r = Client(ForwardAuth(stack.middleware), use_cookies=False).get(
        "/_twofa_auth", headers={"X-Forwarded-Uri": "/api/me", "Authorization": "Bearer tfa_nope"}
    )
    assert r.status_code == 401 and "X-Twofa-Verify-Url" not in r.headers


# -- small parts ------------------------------------------------------------------------


def test_strip_hop_by_hop():
    headers = [
        ("Connection", "close, X-Private"), ("X-Private", "1"), ("Keep-Alive", "5"), ("TE", "trailers"),
        ("Trailer", "X"), ("Transfer-Encoding", "chunked"), ("Upgrade", "h2c"), ("Proxy-Authorization", "x"),
        ("Proxy-Connection", "keep-alive"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "t"),
    ]
    assert strip_hop_by_hop(headers) == [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Content-Type", "t")]


@pytest.mark.parametrize(
    "header, expected",
    [
        ("sid=1; twofa_verified=x; twofa_sudo=y; theme=dark", "sid=1; theme=dark"),
        ("sid=1; sid=2", "sid=1"),
        ('j="a b"; sid=1', "sid=1"),
        ("twofa_verified=x", None),
        ("", None),
    ],
)
def test_canonical_cookie_header(header, expected):
    assert canonical_cookie_header(header, "twofa_") == expected


def test_the_proxy_command_needs_a_secret_key(monkeypatch):
    monkeypatch.setenv("TWOFA_SECRET_KEY", "short")
    result = CliRunner().invoke(
        cli_main, ["proxy", "--upstream", "http://127.0.0.1:1", "--whoami-path", "/w",
                   "--session-cookie", "sid", "--login-path", "/l"],
    )
    assert result.exit_code != 0 and "TWOFA_SECRET_KEY" in result.output


def test_the_proxy_command_and_app_from_env_take_exempt_paths_and_secure_cookies(monkeypatch, tmp_path):
    import werkzeug.serving

    from twofa_middleware.proxy import app_from_env

    served: list[Any] = []
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda host, port, app, **kw: served.append(app))
    monkeypatch.setenv("TWOFA_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("TWOFA_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    result = CliRunner().invoke(
        cli_main, ["proxy", "--upstream", "http://127.0.0.1:1", "--whoami-path", "/w", "--session-cookie", "sid",
                   "--login-path", "/l", "--exempt", "/health", "--exempt", "/assets/", "--cookie-secure"],
    )
    assert result.exit_code == 0, result.output
    assert served[0].settings.exempt_paths == ("/health", "/assets/")
    assert served[0].settings.cookie_secure is True

    for name, value in {"TWOFA_UPSTREAM": "http://127.0.0.1:1", "TWOFA_WHOAMI_PATH": "/w",
                        "TWOFA_SESSION_COOKIE": "sid", "TWOFA_LOGIN_PATH": "/l",
                        "TWOFA_EXEMPT_PATHS": "/health /assets/", "TWOFA_COOKIE_SECURE": "1"}.items():
        monkeypatch.setenv(name, value)
    middleware = app_from_env()
    assert middleware.settings.exempt_paths == ("/health", "/assets/")
    assert middleware.settings.cookie_secure is True
    served[0].service.store.dispose()
    middleware.service.store.dispose()


def test_the_proxy_command_and_app_from_env_take_login_and_logout_urls(monkeypatch, tmp_path):
    """Without them an anonymous visit to /_2fa/ is a dead end and the verify page offers no way out."""
    import werkzeug.serving

    from twofa_middleware.proxy import app_from_env

    served: list[Any] = []
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda host, port, app, **kw: served.append(app))
    monkeypatch.setenv("TWOFA_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("TWOFA_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    result = CliRunner().invoke(
        cli_main, ["proxy", "--upstream", "http://127.0.0.1:1", "--whoami-path", "/w", "--session-cookie", "sid",
                   "--login-path", "/l", "--login-url", "/signin", "--logout-url", "/signout"],
    )
    assert result.exit_code == 0, result.output
    r = Client(served[0], use_cookies=False).get("/_2fa/", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["Location"] == "/signin?next=/_2fa/"

    for name, value in {"TWOFA_UPSTREAM": "http://127.0.0.1:1", "TWOFA_WHOAMI_PATH": "/w",
                        "TWOFA_SESSION_COOKIE": "sid", "TWOFA_LOGIN_PATH": "/l",
                        "TWOFA_LOGIN_URL": "/signin", "TWOFA_LOGOUT_URL": "/signout"}.items():
        monkeypatch.setenv(name, value)
    middleware = app_from_env()
    assert (middleware.settings.login_url, middleware.settings.logout_url) == ("/signin", "/signout")
    served[0].service.store.dispose()
    middleware.service.store.dispose()

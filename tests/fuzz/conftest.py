"""The fuzz suite's worlds: the Flask example and the reverse proxy, each built once per module.

Every Hypothesis example runs against the same world and starts from the same
stored state: :meth:`World.reset` puts the databases back as they were built
and empties the in-process caches, so an example that disabled 2FA or minted
a token cannot change what the next one sees (and a failure always replays).

Profiles: ``HYPOTHESIS_PROFILE=ci`` (the default here) is derandomised and
keeps no example database, so CI runs are reproducible; ``dev`` explores more
examples with a random seed; ``thorough`` is for a long local hunt.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest
from hypothesis import HealthCheck, settings
from werkzeug.security import generate_password_hash
from werkzeug.serving import WSGIRequestHandler, make_server

from examples.flask_app.app import create_app
from twofa_middleware import SQLAlchemyStore
from twofa_middleware.proxy import forward_auth_app, proxy_app

from .helpers import API, PASSWORD, SECRET_KEY, Req, clear_caches, dump, restore, send

_common: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, database=None, max_examples=60, **_common)
settings.register_profile("dev", max_examples=150, **_common)
settings.register_profile("thorough", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



def scaled(factor: float) -> int:
    """``factor`` times the profile's max_examples: for tests whose examples are cheap
    or whose space is large."""
    return max(1, int(settings.default.max_examples * factor))


CHEAP_HASH = "pbkdf2:sha256:1000"  # the example's scrypt costs 160 ms a check: too slow to fuzz


def _cheap(password: str) -> str:
    return generate_password_hash(password, method=CHEAP_HASH)


# -- the Flask example ----------------------------------------------------------------------


@dataclass
class FlaskWorld:
    """The Flask example wrapped by the middleware, with these people in it:

    - alice: 2FA on, signed in, second factor NOT passed in this sign-in (she
      has a verified cookie from an earlier sign-in, which must not count);
      live tokens: one limited to ``/api``, one unlimited.
    - bob: 2FA on, signed in, verified, password re-confirmed (sudo).
    - carol: no 2FA, signed in, sudo.
    """

    app: Any
    middleware: Any
    db_path: str
    users_path: str
    cookies: dict[str, str] = field(default_factory=dict)  # "alice.session" -> value
    csrf: dict[str, str] = field(default_factory=dict)  # user -> CSRF token
    tokens: dict[str, str] = field(default_factory=dict)  # "alice.api" -> token
    token_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reached: list[Any] = field(default_factory=list)  # environ["twofa"] of each request the app saw
    _saved: Any = None
    _users_saved: Any = None

    def __repr__(self) -> str:
        return "FlaskWorld(alice, bob, carol)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def send(self, req: Req):
        self.reached.clear()
        resp = send(self.app, req)
        resp.reached_app = bool(self.reached)
        return resp

    def pools(self) -> dict[str, list[str]]:
        """Cookie name -> values worth trying."""
        c = self.cookies
        return {
            "session": [c["alice.session"], c["bob.session"], c["carol.session"]],
            "twofa_verified": [c["alice.stale_verified"], c["bob.verified"]],
            "twofa_sudo": [c["bob.sudo"], c["carol.sudo"]],
        }

    def persona(self, name: str) -> str | None:
        """The Cookie header of a person's whole browser."""
        c = self.cookies
        return {
            "anonymous": None,
            "alice": f"session={c['alice.session']}",
            "alice+stale": f"session={c['alice.session']}; twofa_verified={c['alice.stale_verified']}",
            "bob": f"session={c['bob.session']}; twofa_verified={c['bob.verified']}; twofa_sudo={c['bob.sudo']}",
            "bob-nosudo": f"session={c['bob.session']}; twofa_verified={c['bob.verified']}",
            "bob-unverified": f"session={c['bob.session']}; twofa_sudo={c['bob.sudo']}",
            "carol": f"session={c['carol.session']}; twofa_sudo={c['carol.sudo']}",
            "carol-nosudo": f"session={c['carol.session']}",
        }[name]

    def save(self) -> None:
        self._saved = dump(self.db_path)
        self._users_saved = dump(self.users_path)

    def reset(self) -> None:
        restore(self.db_path, self._saved)
        restore(self.users_path, self._users_saved)
        clear_caches(self.middleware)


def _login(app: Any, user: str) -> str:
    r = send(app, Req("POST", "/api/login", headers=[("Content-Type", "application/json")],
                      body=json.dumps({"username": user, "password": PASSWORD}).encode()))
    assert r.status == 200, r.text
    return r.cookies()["session"]


def _enable(middleware: Any, user: str) -> None:
    service = middleware.service
    secret = service.enrollment(user).secret
    service.confirm_enrollment(user, pyotp.TOTP(secret).now())


@pytest.fixture(scope="module")
def flask_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskWorld]:
    tmp = tmp_path_factory.mktemp("flask")
    db_path, users_path = str(tmp / "twofa.db"), str(tmp / "users.db")
    app = create_app({"USERS_DATABASE": users_path, "TWOFA_DATABASE_URL": f"sqlite:///{db_path}",
                      "SECRET_KEY": SECRET_KEY})
    users = app.extensions["example_users"]
    users._dummy_hash = _cheap(secrets.token_urlsafe(8))
    with sqlite3.connect(users_path) as conn:
        conn.executemany("INSERT INTO users (username, password_hash) VALUES (?, ?)",
                         [(u, _cheap(PASSWORD)) for u in ("alice", "bob", "carol")])
    middleware = app.extensions["twofa"]
    world = FlaskWorld(app, middleware, db_path, users_path)

    # Watch what reaches the app, and as whom.
    inner = middleware.app

    def probe(environ: dict[str, Any], start_response: Any) -> Any:
        world.reached.append(environ.get("twofa"))
        return inner(environ, start_response)

    middleware.app = probe

    for user in ("alice", "bob"):
        _enable(middleware, user)
    # alice: a verified cookie from an earlier sign-in, then a new sign-in.
    earlier = _login(app, "alice")
    identity = middleware.identify({"HTTP_COOKIE": f"session={earlier}"})
    epoch = middleware.service.state("alice").epoch
    world.cookies["alice.stale_verified"] = middleware.cookies.verified_value(identity, epoch)
    world.cookies["alice.session"] = _login(app, "alice")
    for user in ("bob", "carol"):
        world.cookies[f"{user}.session"] = _login(app, user)
    for user in ("alice", "bob", "carol"):
        identity = middleware.identify({"HTTP_COOKIE": f"session={world.cookies[f'{user}.session']}"})
        world.csrf[user] = middleware.cookies.csrf_token(identity)
        if user != "alice":
            world.cookies[f"{user}.sudo"] = middleware.cookies.sudo_value(identity)
        if user == "bob":
            world.cookies["bob.verified"] = middleware.cookies.verified_value(
                identity, middleware.service.state("bob").epoch
            )
    service = middleware.service
    for key, user, paths in (("alice.api", "alice", ["/api"]), ("alice.all", "alice", None),
                             ("bob.all", "bob", None), ("carol.api", "carol", ["/api/"])):
        _, world.tokens[key] = service.tokens.create_token(user, key, 30, paths)
        world.token_paths[key] = tuple(paths or ())
    _, revoked = service.tokens.create_token("alice", "revoked", 30, None)
    token_id = next(r.id for r in service.tokens.list_tokens("alice") if r.name == "revoked")
    service.tokens.revoke_token(token_id, "alice")
    world.tokens["alice.revoked"] = revoked
    real_clock = service.clock
    service.clock = lambda: real_clock() - 40 * 86400
    _, world.tokens["alice.expired"] = service.tokens.create_token("alice", "expired", 1, None)
    service.clock = real_clock
    world.save()
    try:
        yield world
    finally:
        middleware.service.store.dispose()


# -- the reverse proxy and forward auth ------------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class Upstream:
    """An app that is not Python as far as the proxy can tell: its own sessions, a naive
    cookie parser, Basic auth, a who-am-I, a login, and protected content everywhere else.
    It trusts ``X-Twofa-User`` (the proxy sets it for token requests)."""

    users: dict[str, str] = field(default_factory=lambda: {"ann": PASSWORD, "ben": PASSWORD})
    sessions: dict[str, str] = field(default_factory=dict)
    hits: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def cookie_user(header: str, sessions: dict[str, str]) -> str | None:
        from urllib.parse import unquote

        jar: dict[str, str] = {}
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            jar.setdefault(unquote(name).lower(), value)
        return sessions.get(jar.get("sid", ""))

    def user(self, environ: dict[str, Any]) -> str | None:
        import base64

        scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme == "Basic":
            try:
                name, _, password = base64.b64decode(credentials).decode().partition(":")
            except ValueError:
                return None
            return name if self.users.get(name) == password else None
        if environ.get("HTTP_X_TWOFA_USER"):
            return environ["HTTP_X_TWOFA_USER"]
        return self.cookie_user(environ.get("HTTP_COOKIE", ""), self.sessions)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        try:
            return self._serve(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - a fake must never be the one answering 5xx
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [f"upstream refused: {exc!r}".encode()]

    def _serve(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        length = environ.get("CONTENT_LENGTH") or "0"
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""

        def answer(status: str, payload: Any, headers: list[tuple[str, str]] | None = None) -> list[bytes]:
            start_response(status, [("Content-Type", "application/json"), *(headers or [])])
            return [json.dumps(payload).encode()]

        forwarded = "HTTP_X_FORWARDED_FOR" in environ  # the proxy's own calls (who-am-I, login) carry none
        if path == "/login" and environ["REQUEST_METHOD"] == "POST":  # the public sign-in
            data = json.loads(body or b"{}")
            if self.users.get(data.get("username")) != data.get("password"):
                return answer("401 Unauthorized", {"error": "bad credentials"})
            sid = secrets.token_urlsafe(16)
            self.sessions[sid] = data["username"]
            return answer("200 OK", {"user": data["username"]}, [("Set-Cookie", f"sid={sid}; Path=/")])
        if not forwarded and path == "/whoami":
            user = self.cookie_user(environ.get("HTTP_COOKIE", ""), self.sessions)
            return answer("200 OK", {"user": user}) if user else answer("401 Unauthorized", {"user": None})
        user = self.user(environ)
        with self.lock:
            self.hits.append({"path": path, "user": user, "method": environ["REQUEST_METHOD"]})
        if user:
            return answer("200 OK", {"secret": f"UPSTREAM-SECRET for {user}", "path": path})
        return answer("200 OK", {"public": True, "path": path})


@dataclass
class ProxyWorld:
    """``proxy_app`` and ``forward_auth_app`` in front of :class:`Upstream`.

    ann: 2FA on, signed in upstream (``sid``), second factor not passed; ben: no
    2FA, signed in. Exempt paths: ``/public/`` and ``/logout``."""

    upstream: Upstream
    proxy: Any
    forward_auth: Any
    db_path: str
    cookies: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _saved: Any = None

    def __repr__(self) -> str:
        return "ProxyWorld(ann, ben)"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(repr(self))

    def send(self, app: Any, req: Req):
        with self.upstream.lock:
            self.upstream.hits.clear()
        return send(app, req)

    def reset(self) -> None:
        restore(self.db_path, self._saved)
        clear_caches(self.proxy)
        clear_caches(self.forward_auth.middleware)


EXEMPT = ("/public/", "/logout")


@pytest.fixture(scope="module")
def proxy_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxyWorld]:
    tmp: Path = tmp_path_factory.mktemp("proxy")
    upstream = Upstream()
    server = make_server("127.0.0.1", 0, upstream, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    db_path = str(tmp / "twofa.db")
    store = SQLAlchemyStore(f"sqlite:///{db_path}")
    options: dict[str, Any] = {
        "secret_key": SECRET_KEY, "store": store, "whoami_path": "/whoami", "session_cookie": "sid",
        "login_path": "/login", "issuer": "Proxied", "timeout": 5.0, "exempt_paths": EXEMPT,
    }
    proxy = proxy_app(url, **options)
    fa = forward_auth_app(url, **options)
    world = ProxyWorld(upstream, proxy, fa, db_path)
    try:
        _enable(proxy, "ann")
        for user in ("ann", "ben"):
            r = send(proxy, Req("POST", "/login", headers=[("Content-Type", "application/json")],
                                body=json.dumps({"username": user, "password": PASSWORD}).encode()))
            assert r.status == 200, r.text
            world.cookies[f"{user}.sid"] = r.cookies()["sid"]
        service = proxy.service
        for key, user, paths in (("ann.api", "ann", ["/api"]), ("ann.all", "ann", None), ("ben.all", "ben", None)):
            _, world.tokens[key] = service.tokens.create_token(user, key, 30, paths)
            world.token_paths[key] = tuple(paths or ())
        _, world.tokens["ann.revoked"] = service.tokens.create_token("ann", "revoked", 30, None)
        service.tokens.revoke_token(next(r.id for r in service.tokens.list_tokens("ann") if r.name == "revoked"), "ann")
        world._saved = dump(db_path)
        assert time.time()  # the clock is the real one: tokens expire in 30 days, not during a run
        yield world
    finally:
        server.shutdown()
        thread.join(5)
        store.dispose()


__all__ = ["API", "EXEMPT", "FlaskWorld", "ProxyWorld", "Upstream"]

"""The store becomes unreachable mid-run: fail closed, recover without a restart, leak nothing.

A small TCP forwarder sits between the app and PostgreSQL; cutting it is a true
network boundary (open connections die, new ones are refused), not a mock.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from examples.flask_app.app import create_app
from tests.helpers import SECRET_KEY, serve

from .helpers import PASSWORD, PostgresServer, enroll
from .web import Browser

pytestmark = pytest.mark.postgres


class Forwarder:
    """Forwards a loopback port to ``target``; :meth:`cut` drops everything, :meth:`restore` resumes."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for s in sockets:
            self._close(s)

    @staticmethod
    def _close(s: socket.socket) -> None:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                self._close(client)
                continue
            with self._lock:
                if self._listener is not listener:
                    self._close(client)
                    self._close(upstream)
                    return
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(src)
                self._sockets.discard(dst)
            self._close(src)
            self._close(dst)


class CountingApp:
    """Wraps the app behind the middleware to count the requests that reach it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    def __call__(self, environ: dict, start_response: Any) -> Any:
        self.calls += 1
        return self.app(environ, start_response)


class LiveApp:
    def __init__(self, database_url: str, tmp_path: Path) -> None:
        direct = make_url(database_url)
        self.forwarder = Forwarder((direct.host or "127.0.0.1", direct.port or 5432))
        self.flask = create_app(
            {
                "USERS_DATABASE": str(tmp_path / "users.db"),
                "TWOFA_DATABASE_URL": direct.set(host="127.0.0.1", port=self.forwarder.port).render_as_string(
                    hide_password=False
                ),
                "SECRET_KEY": SECRET_KEY,
                "TWOFA_CACHE_SECONDS": 0,  # every request asks the store: the outage shows at once
                "WTF_CSRF_ENABLED": False,  # the test posts the sign-in form without scraping its token
            }
        )
        self.middleware = self.flask.extensions["twofa"]
        self.app = CountingApp(self.middleware.app)
        self.middleware.app = self.app
        self.url, self._server, self._thread = serve(self.flask)
        self.flask.extensions["example_users"].create("alice", PASSWORD)

    @property
    def engine(self) -> Any:
        return self.middleware.service.store.engine

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self.middleware.service.store.dispose()
        self.forwarder.cut()


@pytest.fixture
def live(pg_database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    app = LiveApp(pg_database_url, tmp_path)
    try:
        yield app
    finally:
        app.close()


def test_store_down_fails_closed_then_service_resumes_without_restart(live):
    """With the database cut, a signed-in user with 2FA gets a 503 page or JSON and
    the app is never called for them; signed-out visitors still reach the app,
    which handles them itself. (With the default cache time a user already past
    the second factor keeps working for up to that long on cached state.)"""
    authenticator, _ = enroll(live.middleware.service, "alice")
    verified, pending = Browser(live.url), Browser(live.url)
    verified.sign_in("alice")
    verified_code = authenticator.at(time.time() + 30)
    assert verified.verify(verified_code).status_code == 303
    pending.sign_in("alice")
    csrf = pending.verify_form()
    assert verified.get("/settings").status_code == 200

    live.forwarder.cut()
    calls = live.app.calls
    for browser in (verified, pending):
        page = browser.get("/settings")
        assert page.status_code == 503 and "temporarily unavailable" in page.text.lower()
        api = browser.get("/api/me", headers={"Accept": "application/json"})
        assert api.status_code == 503 and api.json()["error"] == "store_unavailable"
    spent = authenticator.at(time.time() + 30)  # not tried: the store is down
    assert pending.submit_code(csrf, spent).status_code == 503
    assert pending.get("/_2fa/verify").status_code == 503
    assert live.app.calls == calls, "the app was reached while the store was down"
    assert Browser(live.url).get("/login").status_code == 200  # signed out: the app's own business

    live.forwarder.restore()
    assert verified.get("/settings").status_code == 200
    assert pending.get("/settings").status_code == 303
    assert pending.verify(verified_code).status_code == 409  # spent above, by the other sign-in
    assert live.engine.pool.checkedout() == 0


def test_connections_killed_by_the_server_are_replaced_transparently(live, postgres_server, pg_database_url):
    verified = Browser(live.url)
    verified.sign_in("alice")
    assert verified.get("/settings").status_code == 200
    assert postgres_server.terminate(pg_database_url) >= 1
    assert verified.get("/settings").status_code == 200  # pool_pre_ping reconnects


def test_pool_stays_within_bounds_over_thousands_of_requests(live, postgres_server: PostgresServer, pg_database_url):
    authenticator, _ = enroll(live.middleware.service, "alice")
    pool = live.engine.pool
    bound = pool.size() + pool._max_overflow  # type: ignore[attr-defined]
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, pool.checkedout())
            time.sleep(0.001)

    browsers = []
    for _ in range(8):
        b = Browser(live.url)
        b.sign_in("alice")
        browsers.append(b)
    assert browsers[0].verify(authenticator.at(time.time() + 30)).status_code == 303
    statuses: list[int] = []

    def client(b: Browser, n: int) -> None:
        for i in range(n):
            path = ("/settings", "/_2fa/verify", "/api/me")[i % 3]
            statuses.append(b.get(path).status_code)

    def round_of(n: int) -> None:
        threads = [threading.Thread(target=client, args=(b, n)) for b in browsers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        round_of(100)
        live.forwarder.cut()
        round_of(25)  # error paths must give their connections back too
        live.forwarder.restore()
        round_of(150)
    finally:
        done.set()
        sampler.join()
    assert len(statuses) == 8 * 275
    assert 503 in statuses and 200 in statuses
    assert 0 < peak <= bound
    assert pool.checkedout() == 0
    assert postgres_server.backends(pg_database_url) <= bound

"""The three examples behind one fixture: every test here runs against Flask, Pyramid and Django.

Each example is served by a real HTTP server on loopback with its own temporary
SQLite files (the app's users and the 2FA store). Flask and Pyramid get a fresh
app per test; Django's settings are process-wide, so its example is started once
per process (``tests/integration/django_support.py``) and each test uses its own
user names; the tests here use fresh names for every example, so one test body
fits all three.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.helpers import SECRET_KEY, LiveApp

EXAMPLES = ("flask", "pyramid", "django")


@dataclass
class Example:
    """One running example: its name (the test id) and its live server."""

    name: str
    live: LiveApp

    @property
    def url(self) -> str:
        return self.live.url


def serve(app: object) -> tuple[str, object, threading.Thread]:
    """``tests.helpers.serve`` with a short poll, so stopping a server takes no half second."""
    server = make_server("127.0.0.1", 0, app, threaded=True)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server, thread


def fresh_name(prefix: str) -> str:
    """A user name no other test uses (the Django example outlives a test)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def _flask(tmp_path: Path) -> Iterator[LiveApp]:
    from examples.flask_app.app import create_app

    db_url = f"sqlite:///{tmp_path}/twofa.db"
    # CSRFProtect on, as the example ships: the forms carry its token, the JSON routes are exempt.
    app = create_app(
        {
            "USERS_DATABASE": str(tmp_path / "users.db"),
            "TWOFA_DATABASE_URL": db_url,
            "SECRET_KEY": SECRET_KEY,
            "WTF_CSRF_ENABLED": True,
        }
    )
    middleware = app.extensions["twofa"]
    url, server, thread = serve(app)
    try:
        yield LiveApp(url, app, middleware, db_url)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)
        middleware.service.store.dispose()


@contextlib.contextmanager
def _pyramid(tmp_path: Path) -> Iterator[LiveApp]:
    from examples.pyramid_app.app import make_app
    from twofa_middleware.integrations.pyramid import get_middleware

    db_url = f"sqlite:///{tmp_path}/twofa.db"
    app = make_app(
        {"users_database": str(tmp_path / "users.db"), "twofa_database_url": db_url, "secret_key": SECRET_KEY}
    )
    middleware = get_middleware(app.registry)
    url, server, thread = serve(app)
    try:
        yield LiveApp(url, app, middleware, db_url)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)
        middleware.service.store.dispose()


@contextlib.contextmanager
def _django(tmp_path: Path) -> Iterator[LiveApp]:
    from tests.integration.django_support import live_django, restore_clock

    live = live_django()  # its own temporary directory for both SQLite files, once per process
    restore = restore_clock(live)  # a test may give the service a FixedClock; the server outlives it
    try:
        yield live
    finally:
        restore()


STARTERS = {"flask": _flask, "pyramid": _pyramid, "django": _django}


@pytest.fixture(params=EXAMPLES, ids=EXAMPLES)
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Example]:
    """Each example in turn, on a real server on loopback."""
    name = request.param
    with STARTERS[name](tmp_path) as live:
        yield Example(name, live)

"""Shared fixtures: the Flask example served on loopback by a real HTTP server."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from examples.flask_app.app import create_app

SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnop"


@dataclass
class LiveApp:
    url: str
    app: object
    middleware: object
    db_url: str

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers["Accept"] = "text/html"
        return s


def serve(app: object) -> tuple[str, object, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server, thread


@pytest.fixture
def live_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    """A fresh Flask example with its own SQLite files, on a real server.

    The example's forms carry Flask-WTF's CSRF token: the browser tests fill them
    with it on; the HTTP tests post them without scraping it, so it is off there."""
    db_url = f"sqlite:///{tmp_path}/twofa.db"
    app = create_app(
        {
            "USERS_DATABASE": str(tmp_path / "users.db"),
            "TWOFA_DATABASE_URL": db_url,
            "SECRET_KEY": SECRET_KEY,
            "WTF_CSRF_ENABLED": request.node.get_closest_marker("browser") is not None,
        }
    )
    url, server, thread = serve(app)
    try:
        yield LiveApp(url, app, app.extensions["twofa"], db_url)
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["twofa"].service.store.dispose()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def manual_key_of(html: str) -> str:
    match = re.search(r'id="manual-key">([^<]+)<', html)
    assert match, "setup page shows no manual key"
    return match.group(1).replace(" ", "")


def alert_of(html: str) -> str:
    match = re.search(r'role="alert">([^<]+)<', html)
    return match.group(1).strip() if match else ""


def recovery_codes_of(html: str) -> list[str]:
    return re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", html)


def missing_part(reason: str) -> None:
    """Skip locally when an external part is missing; in CI (TWOFA_REQUIRE_ALL=1) fail instead,
    so a skipped test can never pass for a run that should have had every part."""
    if os.environ.get("TWOFA_REQUIRE_ALL") == "1":
        pytest.fail(f"required part missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("TWOFA_TEST_DATABASE_URL")
    if not url:
        missing_part("PostgreSQL not configured: set TWOFA_TEST_DATABASE_URL")
    return url  # type: ignore[return-value]

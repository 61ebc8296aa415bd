"""Helpers shared by the test suites: the live app's handle, HTML scrapers, skips.

An explicit module, so no test imports another test module or a conftest.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

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


@contextmanager
def live_example(tmp_path: Path, **config: Any) -> Iterator[LiveApp]:
    """The Flask example with its own SQLite files under ``tmp_path``, on a real
    loopback server, with ``config`` on top; shut down and its store closed after."""
    from examples.flask_app.app import create_app

    db_url = f"sqlite:///{tmp_path}/twofa.db"
    app = create_app(
        {"USERS_DATABASE": str(tmp_path / "users.db"), "TWOFA_DATABASE_URL": db_url, "SECRET_KEY": SECRET_KEY,
         **config}
    )
    url, server, thread = serve(app)
    try:
        yield LiveApp(url, app, app.extensions["twofa"], db_url)
    finally:
        server.shutdown()  # type: ignore[attr-defined]
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



"""Review PoC: a Cookie header that is not UTF-8 (any byte 0x80-0xff, which HTTP allows
and servers pass on as latin-1) is a 500: werkzeug.http.parse_cookie decodes the
header as UTF-8 and raises UnicodeDecodeError, which nothing catches."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from tests.e2e.helpers import get, unique

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("path", ["/secret", "/_2fa/api/status"])
def test_non_utf8_cookie_is_not_a_5xx(stack, path):
    user = stack.user(unique("bytes"))
    r = get(stack.url, path, ("Cookie", f"sid={user.sid}; x=\xe9"), ("Accept", "application/json"))
    assert r.status < 500, r


def test_non_utf8_cookie_in_process(live_app_client):
    client, cookie = live_app_client
    for path in ("/api/me", "/_2fa/api/status"):
        r = client.get(path, environ_overrides={"HTTP_COOKIE": f"{cookie}; x=\xe9"})
        assert r.status_code < 500, (path, r.status_code)


@pytest.fixture
def live_app_client(tmp_path):
    from examples.flask_app.app import create_app

    app = create_app({"USERS_DATABASE": str(tmp_path / "u.db"), "TWOFA_DATABASE_URL": f"sqlite:///{tmp_path}/t.db",
                      "SECRET_KEY": "review-secret-key-0123456789abcdef"})
    client = Client(app, use_cookies=False)
    r = client.post("/api/register", json={"username": "bytes", "password": "a long password 1"})
    assert r.status_code == 201, r.get_data()
    cookie = next(h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")).split(";")[0]
    assert client.get("/api/me", environ_overrides={"HTTP_COOKIE": cookie}).status_code == 200
    yield client, cookie
    app.extensions["twofa"].service.store.dispose()

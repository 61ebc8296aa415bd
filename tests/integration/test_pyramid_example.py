"""The Pyramid example: same middleware, different framework, over a real server."""

from __future__ import annotations

import time

import pyotp
import pytest

from examples.pyramid_app.app import make_app
from tests.helpers import SECRET_KEY, alert_of, csrf_of, manual_key_of, serve


@pytest.fixture
def pyramid_url(tmp_path):
    app = make_app(
        {
            "users_database": str(tmp_path / "users.db"),
            "twofa_database_url": f"sqlite:///{tmp_path}/twofa.db",
            "secret_key": SECRET_KEY,
        }
    )
    url, server, thread = serve(app)
    yield url
    server.shutdown()
    thread.join(5)
    app.service.store.dispose()


def test_pyramid_user_enrolls_and_is_asked_for_a_code_at_the_next_sign_in(pyramid_url):
    import requests

    s = requests.Session()
    s.headers["Accept"] = "text/html"
    r = s.post(pyramid_url + "/register", data={"username": "pat", "password": "pat-password-1"})
    assert "Signed in as" in r.text and "Set Up Two-Factor Authentication" in r.text

    r = s.get(pyramid_url + "/_2fa/setup?next=/settings")
    r = s.post(
        pyramid_url + "/_2fa/confirm-password",
        data={"csrf_token": csrf_of(r.text), "password": "pat-password-1", "next": "/_2fa/setup?next=/settings"},
    )
    key = manual_key_of(r.text)
    totp = pyotp.TOTP(key)
    r = s.post(
        pyramid_url + "/_2fa/setup",
        data={"csrf_token": csrf_of(r.text), "code": totp.now(), "next": "/settings"},
    )
    assert "Save your recovery codes" in r.text
    r = s.post(
        pyramid_url + "/_2fa/setup/recovery-codes",
        data={"csrf_token": csrf_of(r.text), "saved": "on", "next": "/settings"},
    )
    assert "Two-factor authentication is enabled." in r.text

    s.post(pyramid_url + "/logout")
    r = s.post(pyramid_url + "/login", data={"username": "pat", "password": "pat-password-1", "next": "/settings"})
    assert r.url.startswith(pyramid_url + "/_2fa/verify")
    wrong_code = "000000" if totp.now() != "000000" else "111111"
    wrong = s.post(r.url, data={"csrf_token": csrf_of(r.text), "code": wrong_code, "next": "/settings"})
    assert wrong.status_code == 400 and "not valid" in alert_of(wrong.text)
    next_code = totp.at(time.time() + 30)
    r = s.post(
        pyramid_url + "/_2fa/verify", data={"csrf_token": csrf_of(r.text), "code": next_code, "next": "/settings"}
    )
    assert r.url == pyramid_url + "/settings"
    assert "Two-factor authentication is enabled." in r.text

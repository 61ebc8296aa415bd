"""Attacks a fresh-eyes review found, each pinned as the answer a user now sees."""

from __future__ import annotations

import pytest
import requests
from werkzeug.test import Client

from tests.conftest import SECRET_KEY
from tests.integration.api_support import PASSWORD, ApiClient, Authenticator, use_clock
from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.headers import remote_user_identify, trusted_header_identify


def events(live, user: str) -> list[str]:
    return [e.event for e in reversed(live.middleware.service.store.events(user))]


def test_a_stolen_session_cannot_finish_a_setup_without_the_password(live_app):
    """The pending secret belongs to the user: finishing a setup needs the password again."""
    clock = use_clock(live_app)
    victim = ApiClient(live_app.url)
    victim.register("vic")
    victim.sudo()
    secret = victim.post("/enroll").json()["secret"]

    thief = ApiClient(live_app.url)
    thief.http.cookies.set("session", victim.http.cookies.get("session"))
    r = thief.post("/enroll/confirm", {"code": Authenticator(secret, clock).code()})
    assert r.status_code == 403 and r.json()["error"] == "password_required"
    assert victim.get("/status").json()["enabled"] is False


def test_wrong_setup_codes_lock_the_setup_like_sign_in(live_app):
    clock = use_clock(live_app)
    client = ApiClient(live_app.url)
    client.register("setter")
    client.sudo()
    app = Authenticator(client.post("/enroll").json()["secret"], clock)

    answers = [client.post("/enroll/confirm", {"code": app.wrong_code()}).status_code for _ in range(5)]
    assert answers == [400] * 5
    locked = client.post("/enroll/confirm", {"code": app.code()})
    assert locked.status_code == 429 and locked.json()["error"] == "locked"
    assert int(locked.headers["Retry-After"]) == 30
    assert events(live_app, "setter").count("enroll_failed") == 5

    clock.advance(31)
    client.sudo()
    assert client.post("/enroll/confirm", {"code": app.code()}).status_code == 200


def test_password_guesses_are_throttled_per_user(live_app):
    clock = use_clock(live_app)
    client = ApiClient(live_app.url)
    client.register("guessed")
    wrong = [client.post("/confirm-password", {"password": f"guess-{i}"}).status_code for i in range(5)]
    assert wrong == [403] * 5
    r = client.post("/confirm-password", {"password": PASSWORD})
    assert r.status_code == 429 and r.json()["error"] == "locked"
    assert 0 < int(r.headers["Retry-After"]) <= 900

    clock.advance(901)
    assert client.post("/confirm-password", {"password": PASSWORD}).status_code == 200


def test_the_mount_without_its_slash_redirects_to_the_account_page(live_app):
    r = requests.get(live_app.url + "/_2fa", allow_redirects=False, timeout=10)
    assert r.status_code in (301, 308)
    assert r.headers["Location"].endswith("/_2fa/")


def test_head_on_a_page_answers_like_get_and_changes_nothing(live_app):
    client = ApiClient(live_app.url)
    client.register("header")
    r = client.request("HEAD", "/_2fa/verify")
    assert r.status_code == 303  # nothing owed: on to next, as GET does
    r = client.request("HEAD", "/_2fa/confirm-password", headers={"Accept": "text/html"})
    assert r.status_code == 200


# -- identify helpers for apps signed in by a front proxy ------------------------------


def _counting_app():
    calls: list[str] = []

    def app(environ, start_response):
        calls.append(environ.get("REMOTE_USER", ""))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    return app, calls


@pytest.mark.parametrize(
    "identify, headers, environ",
    [
        pytest.param(remote_user_identify(), {}, {"REMOTE_USER": "alice"}, id="remote-user-without-session"),
        pytest.param(trusted_header_identify(), {"X-Forwarded-User": "alice"}, {}, id="proxy-user-without-session"),
    ],
)
def test_leaving_out_the_session_value_never_skips_the_second_factor(tmp_path, identify, headers, environ):
    app, calls = _counting_app()
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db")
    middleware = TwoFactorMiddleware(
        app, secret_key=SECRET_KEY, store=store, identify=identify, check_password=lambda u, p: True
    )
    # alice has 2FA on.
    store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], 0.0)
    try:
        r = Client(middleware).get("/home", headers={"Accept": "application/json", **headers}, environ_overrides=environ)
        assert r.status_code == 401 and r.json["error"] == "two_factor_required"
        assert calls == []
        # And a verified cookie cannot be bound to the missing value.
        name, value = middleware.cookies.verified_name, middleware.cookies.verified_value(Identity("alice", ""), 1)
        client = Client(middleware)
        client.set_cookie(name, value)
        r = client.get("/home", headers={"Accept": "application/json", **headers}, environ_overrides=environ)
        assert r.status_code == 401 and calls == []
    finally:
        store.dispose()

"""Attacks a fresh-eyes review found, each pinned as the answer a user now sees."""

from __future__ import annotations

import pytest
import requests
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
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
    calls: list[dict] = []

    def app(environ, start_response):
        calls.append(dict(environ))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    return app, calls


@pytest.fixture
def wrap(tmp_path):
    """Wrap a counting WSGI app (a true boundary) with the middleware; alice has 2FA on."""
    stores = []

    def make(identify, **options):
        app, calls = _counting_app()
        store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db")
        stores.append(store)
        middleware = TwoFactorMiddleware(
            app, secret_key=SECRET_KEY, store=store, identify=identify, check_password=lambda u, p: True, **options
        )
        store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], 0.0)
        return middleware, calls

    yield make
    for store in stores:
        store.dispose()


@pytest.mark.parametrize(
    "identify, headers, environ",
    [
        pytest.param(remote_user_identify(), {}, {"REMOTE_USER": "alice"}, id="remote-user-without-session"),
        pytest.param(trusted_header_identify(), {"X-Forwarded-User": "alice"}, {}, id="proxy-user-without-session"),
    ],
)
def test_leaving_out_the_session_value_never_skips_the_second_factor(wrap, identify, headers, environ):
    middleware, calls = wrap(identify)
    r = Client(middleware).get("/home", headers={"Accept": "application/json", **headers}, environ_overrides=environ)
    assert r.status_code == 401 and r.json["error"] == "two_factor_required"
    # And a verified cookie cannot be bound to the missing value.
    client = Client(middleware)
    client.set_cookie(middleware.cookies.verified_name, middleware.cookies.verified_value(Identity("alice", ""), 1))
    r = client.get("/home", headers={"Accept": "application/json", **headers}, environ_overrides=environ)
    assert r.status_code == 401
    assert calls == []


# -- a token, or a second session, must never stand in for someone's second factor ------


def _victim_and_attacker(live_app):
    """A victim with 2FA on, signed in with the password only, and an attacker without 2FA."""
    clock = use_clock(live_app)
    victim = ApiClient(live_app.url)
    victim.register("victim")
    victim.enable(clock)
    victim.login()
    assert victim.me().json()["error"] == "two_factor_required"
    attacker = ApiClient(live_app.url)
    attacker.register("mallory")
    return victim.http.cookies.get("session"), attacker


def test_a_token_does_not_lend_its_exemption_to_a_session_riding_along(live_app):
    victim_session, attacker = _victim_and_attacker(live_app)
    attacker.sudo()
    _, token = attacker.create_token()
    r = requests.get(
        live_app.url + "/api/me",
        headers={"Authorization": f"Bearer {token}", "Cookie": f"session={victim_session}"},
        timeout=10,
    )
    assert r.status_code == 200 and r.json() == {"user": "mallory"}


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("session ={victim}; session={attacker}", id="space-before-equals"),
        pytest.param('x="; session={attacker}; "; session={victim}', id="quoted-value-swallowing-a-cookie"),
        pytest.param("session={victim}; session={attacker}", id="duplicate-name"),
        pytest.param("session={attacker}; session={victim}", id="duplicate-name-reversed"),
    ],
)
def test_a_crafted_cookie_header_cannot_pair_the_victims_session_with_the_attackers_pass(live_app, template):
    """The middleware reads the session cookie exactly as the app does, whatever the header looks like."""
    victim_session, attacker = _victim_and_attacker(live_app)
    header = template.format(victim=victim_session, attacker=attacker.http.cookies.get("session"))
    r = requests.get(live_app.url + "/api/me", headers={"Cookie": header}, timeout=10)
    # Whichever session the app picks, the middleware judged that same one:
    # the attacker's own (passes) or the victim's (second factor owed).
    assert r.json() in ({"user": "mallory"}, {"error": "two_factor_required", **_without_error(r.json())})
    assert r.json().get("user") != "victim"


def _without_error(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "error"}


def test_a_token_cannot_skip_required_enrollment(wrap):
    middleware, calls = wrap(lambda environ: None, require_enrollment=lambda user_id: True)
    _, token = middleware.service.tokens.create_token("newbie", "script", 30, None)
    r = Client(middleware).get("/api", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403 and r.json["error"] == "two_factor_enrollment_required"
    assert calls == []


def test_a_token_request_reaches_the_app_without_cookies(wrap):
    middleware, calls = wrap(lambda environ: Identity("alice", "nonce"))
    _, token = middleware.service.tokens.create_token("bob", "script", 30, None)
    r = Client(middleware).get("/api", headers={"Authorization": f"Bearer {token}", "Cookie": "session=alices"})
    assert r.status_code == 200
    assert calls[0]["REMOTE_USER"] == "bob" and "HTTP_COOKIE" not in calls[0]


@pytest.mark.parametrize(
    "path, exempt",
    [
        pytest.param("/logout", True, id="the-path-itself"),
        pytest.param("/logout/all", True, id="below-it"),
        pytest.param("/logout-everywhere", False, id="a-longer-name"),
        pytest.param("/logoutX", False, id="a-suffix"),
        pytest.param("/static/app.css", True, id="below-a-folder-entry"),
        pytest.param("/static-admin", False, id="a-folder-entry-is-not-a-name-prefix"),
    ],
)
def test_exempt_paths_match_whole_path_segments(wrap, path, exempt):
    middleware, calls = wrap(lambda environ: Identity("alice", "nonce"), exempt_paths=("/logout", "/static/"))
    r = Client(middleware).get(path, headers={"Accept": "application/json"})
    assert (r.status_code == 200) is exempt
    assert (calls != []) is exempt

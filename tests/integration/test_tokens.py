"""Personal access tokens over the real server: create, use, refuse, revoke; API and pages."""

from __future__ import annotations

import re

import pytest
import requests

from tests.helpers import csrf_of
from twofa_middleware import tokens
from twofa_middleware.i18n import ENGLISH
from twofa_middleware.testing import FixedClock
from twofa_middleware.times import rfc3339

from .api_support import MOUNT, PASSWORD, ApiClient, bearer, use_clock


@pytest.fixture
def clock(live_app) -> FixedClock:
    return use_clock(live_app)


@pytest.fixture
def alice(live_app, clock) -> ApiClient:
    """alice with 2FA on, past the second factor, password just confirmed."""
    c = ApiClient(live_app.url)
    c.register("alice")
    c.enable(clock)
    c.sudo()
    return c


def test_a_token_calls_the_app_as_its_owner_without_the_second_factor(live_app, alice):
    token_id, token = alice.create_token("deploy", expires_in_days=7, paths=["/api"])
    assert re.fullmatch(r"tfa_[0-9A-Za-z]{49}", token) and tokens.is_well_formed(token)
    r = bearer(live_app.url, token, "/api/me")
    assert (r.status_code, r.json()) == (200, {"user": "alice"})

    listed = alice.get("/tokens")
    assert token not in listed.text  # never shown again
    (entry,) = listed.json()["tokens"]
    assert entry["id"] == token_id and entry["name"] == "deploy" and entry["paths"] == ["/api"]
    assert entry["prefix"] == token[:10]
    assert entry["expires_at"] > entry["created_at"]
    assert entry["last_used_at"] is not None

    # A new sign-in owes the second factor; the token does not care.
    alice.login()
    assert alice.me().status_code == 401
    assert bearer(live_app.url, token, "/api/me").status_code == 200


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("nonsense", id="garbage"),
        pytest.param(tokens.mint(), id="well-formed-unknown"),
        pytest.param(tokens.mint()[:-1] + "x", id="bad-checksum"),
        pytest.param("", id="empty"),
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_a_wrong_token_gets_401_json_never_a_page(live_app, alice, token, accept):
    r = bearer(live_app.url, token, "/api/me", Accept=accept)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_token"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = bearer(live_app.url, token, "/settings", Accept=accept)
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_an_expired_token_is_refused(live_app, alice, clock):
    _, token = alice.create_token("short", expires_in_days=1)
    assert bearer(live_app.url, token, "/api/me").status_code == 200  # now cached
    clock.advance(86400 + 1)
    r = bearer(live_app.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_a_token_stored_already_expired_is_refused(live_app, alice, clock):
    token = tokens.mint()
    live_app.middleware.service.store.add_token(
        "alice", "old", tokens.display_prefix(token), tokens.hash_token(token), (),
        clock() - 10, clock() - 86400,
    )
    r = bearer(live_app.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_a_token_outside_its_paths_is_refused(live_app, alice):
    _, token = alice.create_token("settings only", paths=["/settings"])
    assert bearer(live_app.url, token, "/settings").status_code == 200
    r = bearer(live_app.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    r = bearer(live_app.url, token, "/settings-other")  # a prefix is a path segment, not a string prefix
    assert r.status_code == 401


def test_a_revoked_token_stops_at_once(live_app, alice):
    token_id, token = alice.create_token("soon gone")
    assert bearer(live_app.url, token, "/api/me").status_code == 200  # cached in the process
    r = alice.api("DELETE", f"/tokens/{token_id}")
    assert r.json() == {"id": token_id, "revoked": True}
    r = bearer(live_app.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
    assert alice.get("/tokens").json() == {"tokens": []}
    r = alice.api("DELETE", f"/tokens/{token_id}")
    assert (r.status_code, r.json()["error"]) == (404, "not_found")


def test_creating_and_revoking_need_the_password(live_app, clock):
    c = ApiClient(live_app.url)
    c.register("bob")  # no 2FA: verified, but never re-confirmed
    r = c.post("/tokens", {"name": "x"})
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    c.sudo()
    token_id, _ = c.create_token("x")
    for cookie in list(c.http.cookies):
        if cookie.name == "twofa_sudo":
            c.http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    c.http.cookies.set("twofa_sudo", "forged", path=MOUNT)
    r = c.api("DELETE", f"/tokens/{token_id}")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    assert len(c.get("/tokens").json()["tokens"]) == 1


def test_a_token_cannot_manage_2fa_or_tokens(live_app, alice):
    _, token = alice.create_token("sneaky")
    for path in ["/_2fa/api/status", "/_2fa/api/tokens", "/_2fa/tokens", "/_2fa/"]:
        r = bearer(live_app.url, token, path)
        assert (r.status_code, r.json()["error"]) == (403, "token_not_allowed"), path
    r = requests.post(
        live_app.url + "/_2fa/api/tokens", json={"name": "more"}, headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 403
    assert len(alice.get("/tokens").json()["tokens"]) == 1


def test_steady_state_token_requests_do_not_touch_the_store(live_app, alice, monkeypatch):
    _, token = alice.create_token("hot path")
    use_clock(live_app)  # time stands still: a loaded machine cannot turn 20 requests into a refill
    store = live_app.middleware.service.store
    calls: list[str] = []
    for name in ("token_by_hash", "touch_token", "user_state"):
        original = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *a, _n=name, _o=original, **k: (calls.append(_n), _o(*a, **k))[1])
    assert bearer(live_app.url, token, "/api/me").status_code == 200
    assert calls.count("token_by_hash") == 1
    calls.clear()
    for _ in range(20):
        assert bearer(live_app.url, token, "/api/me").status_code == 200
    assert calls == []


# -- the pages ---------------------------------------------------------------------------


def _page_session(live_app, user: str) -> requests.Session:
    s = live_app.session()
    r = s.post(live_app.url + "/register", data={"username": user, "password": PASSWORD}, allow_redirects=False)
    assert r.status_code in {302, 303}, r.text
    return s


def test_the_tokens_page_creates_shows_once_and_revokes(live_app):
    s = _page_session(live_app, "carol")
    page = s.get(live_app.url + "/_2fa/tokens")
    assert page.status_code == 200 and "You have no personal access tokens." in page.text
    csrf = csrf_of(page.text)
    form = {"csrf_token": csrf, "name": "backup job", "expires_days": "10", "paths": "/api /settings"}

    r = s.post(live_app.url + "/_2fa/tokens", data=form)
    assert 'name="password"' in r.text  # the password first, the form kept
    assert 'value="backup job"' in r.text
    r = s.post(live_app.url + "/_2fa/tokens", data={**form, "password": PASSWORD})
    assert r.status_code == 200
    token = re.search(r'<code id="new-token">([^<]+)</code>', r.text).group(1)
    assert re.search(r'<button type="button" class="tf-button tf-js-only" data-copy-target="new-token"'
                     r' data-copy-status="token-copy-status"[^>]*hidden>', r.text)
    assert bearer(live_app.url, token, "/api/me").json() == {"user": "carol"}

    again = s.get(live_app.url + "/_2fa/tokens")
    assert token not in again.text and token[:10] in again.text
    assert "backup job" in again.text and "<code>/api</code>" in again.text
    (record,) = live_app.middleware.service.tokens.list_tokens("carol")
    assert record.paths == ("/api", "/settings")
    created = rfc3339(record.created_at)  # the API's and the CLI's format, for machines
    shown = ENGLISH.datetime(record.created_at)  # for people: in the reader's language
    assert shown and f'<time datetime="{created}">{shown}</time>' in again.text
    assert f'<time datetime="{rfc3339(record.last_used_at)}">' in again.text

    action = f"/_2fa/tokens/{record.id}/revoke"
    assert action in again.text
    r = s.post(live_app.url + action, data={"csrf_token": "forged"}, allow_redirects=False)
    assert r.status_code == 403
    assert bearer(live_app.url, token, "/api/me").status_code == 200
    r = s.post(live_app.url + action, data={"csrf_token": csrf}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/_2fa/tokens")
    assert bearer(live_app.url, token, "/api/me").status_code == 401
    assert live_app.middleware.service.tokens.list_tokens("carol") == []


def test_the_tokens_page_shows_form_errors(live_app):
    s = _page_session(live_app, "dave")
    csrf = csrf_of(s.get(live_app.url + "/_2fa/tokens").text)
    base = {"csrf_token": csrf, "password": PASSWORD, "name": "x", "expires_days": "30", "paths": ""}
    for bad in [{"expires_days": "abc"}, {"expires_days": "0"}, {"name": ""}, {"paths": "relative"}]:
        r = s.post(live_app.url + "/_2fa/tokens", data={**base, **bad})
        assert r.status_code == 400, bad
        assert 'class="tf-error" role="alert"' in r.text
        assert 'id="new-token"' not in r.text
    assert live_app.middleware.service.tokens.list_tokens("dave") == []
    r = s.post(live_app.url + "/_2fa/tokens", data={**base, "csrf_token": "forged"})
    assert r.status_code == 403

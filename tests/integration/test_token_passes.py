"""A token's remembered pass (pass_cache.TokenPasses) says no more than decide() would.

The steady state of a script is one keyed hash and one dict lookup: decide()'s
pass for the token, remembered. Each test sets ``cache_seconds`` to its longest
(60 s), so that within it the token's cached record cannot end a wrong pass:
only the remembered pass's own bounds (path scopes, the enrollment policy,
invalidations) stand between a request and a stale answer.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import LiveApp
from twofa_middleware.testing import FixedClock

from .api_support import ApiClient, bearer, example_with_longest_cache, use_clock
from .flows import PASSWORD

DAY = 86400


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveApp]:
    with example_with_longest_cache(tmp_path) as app:
        yield app


@pytest.fixture
def clock(live: LiveApp) -> FixedClock:
    return use_clock(live)


@pytest.fixture
def alice(live: LiveApp, clock: FixedClock) -> ApiClient:
    c = ApiClient(live.url)
    c.register("alice")
    c.enable(clock)
    c.sudo()
    return c


def test_a_remembered_token_is_refused_at_once_when_revoked(live, alice):
    token_id, token = alice.create_token("deploy")
    for _ in range(3):
        assert bearer(live.url, token, "/api/me").status_code == 200
    assert alice.api("DELETE", f"/tokens/{token_id}").json() == {"id": token_id, "revoked": True}
    r = bearer(live.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_a_remembered_token_still_stamps_its_use_once_a_minute(live, alice, clock):
    _, token = alice.create_token("cron")
    assert bearer(live.url, token, "/api/me").status_code == 200
    first = alice.get("/tokens").json()["tokens"][0]["last_used_at"]
    clock.advance(30)
    assert bearer(live.url, token, "/api/me").status_code == 200
    assert alice.get("/tokens").json()["tokens"][0]["last_used_at"] == first  # at most once a minute
    clock.advance(31)
    assert bearer(live.url, token, "/api/me").status_code == 200
    later = alice.get("/tokens").json()["tokens"][0]["last_used_at"]
    assert later is not None and later != first


def test_a_scoped_token_is_judged_on_every_path(live, alice):
    _, token = alice.create_token("api only", paths=["/api"])
    for _ in range(3):
        assert bearer(live.url, token, "/api/me").status_code == 200
    r = bearer(live.url, token, "/settings")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")


def test_a_remembered_token_with_a_dot_segment_path_is_refused(live, alice):
    _, token = alice.create_token("deploy")
    assert bearer(live.url, token, "/api/me").status_code == 200
    parts = urlsplit(live.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:  # http.client sends the path as written (requests would resolve the "./")
        conn.request("GET", "/api/./me", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        assert response.status == 400 and b"ambiguous_request" in response.read()
    finally:
        conn.close()


def test_a_token_is_refused_once_its_owners_grace_period_ends_within_the_minute(tmp_path):
    with example_with_longest_cache(tmp_path, TWOFA_ENROLL_WITHIN_DAYS=7) as live:
        clock = use_clock(live)
        registered = clock() - 7 * DAY + 20  # the grace period ends in 20 s
        assert live.app.extensions["example_users"].create("gina", PASSWORD, created_at=registered)
        _, token = live.middleware.service.tokens.create_token("gina", "script", 30, None)
        for _ in range(3):
            assert bearer(live.url, token, "/api/me").status_code == 200
        clock.advance(21)
        r = bearer(live.url, token, "/api/me")
        assert (r.status_code, r.json()["error"]) == (403, "two_factor_enrollment_required")


def test_a_remembered_pass_never_outlives_the_cached_record_it_was_decided_on(live, alice, clock):
    """SQLite tells no other instance: a revocation this process never saw counts when
    the token's cached record ends (``cache_seconds``, as documented), remembered pass or not."""
    _, token = alice.create_token("deploy")
    assert bearer(live.url, token, "/api/me").status_code == 200
    store = live.middleware.service.store
    (record,) = [r for r in store.tokens("alice") if r.revoked_at is None]
    assert store.revoke_token(record.id, "alice", time.time()) is not None
    assert bearer(live.url, token, "/api/me").status_code == 200  # this process cannot know yet
    live.middleware.service.forget_cached()  # what the end of cache_seconds does to the record
    r = bearer(live.url, token, "/api/me")
    assert (r.status_code, r.json()["error"]) == (401, "invalid_token")

"""Security keys through the JSON API over a real loopback server (http://localhost:PORT),
answered by a software authenticator: the ceremonies, and what an attacker would try."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.unit.test_security_keys import SoftKey
from twofa_middleware.testing import FixedClock

from .api_support import ApiClient, use_clock
from .security_key_support import add_key, created, localhost, sign_in_with, signed


@pytest.fixture
def clock(live_app: Any) -> FixedClock:
    return use_clock(live_app)


def client(live_app: Any, user: str) -> ApiClient:
    c = ApiClient(localhost(live_app.url))
    c.register(user)
    return c


def with_key(live_app: Any, user: str = "alice") -> tuple[ApiClient, SoftKey, list[str]]:
    """A user whose only factor is a security key: its recovery codes, signed in again (owing it)."""
    c, key = client(live_app, user), SoftKey(credential_id=f"key-of-{user}".encode())
    c.sudo()
    added = add_key(c, key)
    assert added.status_code == 201, added.text
    c.login()
    return c, key, added.json()["recovery_codes"]


def events(live_app: Any, user: str) -> list[tuple[str, str]]:
    return [(e.event, e.detail) for e in reversed(live_app.middleware.service.store.events(user))]


def test_a_key_as_the_first_factor_turns_2fa_on_and_signs_in(live_app: Any, clock: FixedClock) -> None:
    c, key = client(live_app, "alice"), SoftKey()
    c.sudo()
    added = add_key(c, key, "YubiKey")
    assert added.status_code == 201
    body = added.json()
    assert (body["kind"], body["name"], len(body["recovery_codes"])) == ("webauthn", "YubiKey", 10)
    assert body["next"].startswith("/_2fa/setup/recovery-codes")
    (listed,) = c.get("/authenticators").json()["authenticators"]
    assert (listed["kind"], listed["name"]) == ("webauthn", "YubiKey")
    assert c.get("/status").json()["enabled"] is True

    c.login()
    assert c.get("/tokens").status_code == 401
    answer = sign_in_with(c, key)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"verified": True, "method": "webauthn", "next": "/settings"}
    assert c.get("/tokens").status_code == 200
    assert live_app.middleware.service.store.authenticators("alice")[0].sign_count == 1

    c.login()  # only a key enrolled: a recovery code still passes
    assert c.verify(body["recovery_codes"][0]).json()["method"] == "recovery"
    assert ("verified", "webauthn") in events(live_app, "alice")


def test_a_second_key_joins_and_either_signs_in(live_app: Any, clock: FixedClock) -> None:
    c, first, _ = with_key(live_app)
    assert sign_in_with(c, first).status_code == 200
    c.sudo()
    second = SoftKey(credential_id=b"the-second-key")
    added = add_key(c, second, "Backup")
    assert added.status_code == 201 and added.json()["recovery_codes"] == []
    assert added.json()["next"].startswith("/_2fa/?added=1")
    c.login()
    assert sign_in_with(c, second).status_code == 200


def test_a_finished_sign_in_cannot_be_replayed(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    assertion = signed(c, key)
    assert c.post("/verify/security-key/finish", {"credential": assertion}).status_code == 200
    c.login()
    replay = c.post("/verify/security-key/finish", {"credential": assertion})
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_security_key")
    assert c.get("/tokens").status_code == 401


def test_a_refused_try_spends_the_challenge(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    good = signed(c, key)
    spoiled = {**good, "response": {**good["response"], "signature": good["response"]["signature"][:-4] + "AAAA"}}
    assert c.post("/verify/security-key/finish", {"credential": spoiled}).status_code == 400
    late = c.post("/verify/security-key/finish", {"credential": good})
    assert late.status_code == 400
    assert c.get("/tokens").status_code == 401


def test_another_users_key_does_not_sign_in(live_app: Any, clock: FixedClock) -> None:
    _, alice_key, _ = with_key(live_app, "alice")
    bob, _, _ = with_key(live_app, "bob")
    stolen = signed(bob, alice_key)  # Alice's key answering Bob's challenge
    answer = bob.post("/verify/security-key/finish", {"credential": stolen})
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_security_key")
    assert bob.get("/tokens").status_code == 401
    assert ("verify_failed", "webauthn unknown_credential: invalid_security_key") in events(live_app, "bob")


def test_a_challenge_of_one_sign_in_does_not_pass_another(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    other = ApiClient(c.base_url)
    other.login("alice")  # the same user, another sign-in
    assertion = signed(c, key)  # begun by the first session
    answer = other.post("/verify/security-key/finish", {"credential": assertion})
    assert answer.status_code == 400
    assert other.get("/tokens").status_code == 401
    assert ("verify_failed", "webauthn wrong_session: invalid_security_key") in events(live_app, "alice")


def test_a_challenge_expires(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    assertion = signed(c, key)
    clock.advance(301)
    assert c.post("/verify/security-key/finish", {"credential": assertion}).status_code == 400


def test_a_locked_user_is_refused_before_the_key(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    assertion = signed(c, key)
    for _ in range(5):
        c.verify("000000")
    refused = c.post("/verify/security-key/finish", {"credential": assertion})
    assert (refused.status_code, refused.json()["error"]) == (429, "locked")
    assert c.post("/verify/security-key/begin").status_code == 429
    assert c.get("/tokens").status_code == 401


def test_refused_keys_count_toward_the_lockout(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    for _ in range(5):
        assertion = signed(c, key)
        bad = {**assertion, "response": {**assertion["response"], "signature": "AAAA"}}
        assert c.post("/verify/security-key/finish", {"credential": bad}).status_code == 400
    assert c.post("/verify/security-key/begin").status_code == 429


def test_a_cloned_key_is_refused_and_logged(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    assert sign_in_with(c, key).status_code == 200
    c.login()
    key.sign_count = 0  # a copy made before that sign-in
    answer = sign_in_with(c, key)
    assert (answer.status_code, answer.json()["error"]) == (403, "security_key_cloned")
    assert c.get("/tokens").status_code == 401
    (cloned,) = [d for e, d in events(live_app, "alice") if e == "webauthn_cloned"]
    assert cloned.endswith("stored=1 received=1")


def test_registering_needs_the_second_factor_and_the_password(live_app: Any, clock: FixedClock) -> None:
    c, key, _ = with_key(live_app)
    owed = c.post("/security-keys/register/begin")
    assert (owed.status_code, owed.json()["error"]) == (401, "two_factor_required")
    assert sign_in_with(c, key).status_code == 200
    no_sudo = c.post("/security-keys/register/begin")
    assert (no_sudo.status_code, no_sudo.json()["error"]) == (403, "password_required")


def test_the_same_key_is_not_added_twice_even_to_another_account(live_app: Any, clock: FixedClock) -> None:
    c, key = client(live_app, "alice"), SoftKey()
    c.sudo()
    assert add_key(c, key).status_code == 201
    again = add_key(c, key)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_security_key")
    bob = client(live_app, "bob")
    bob.sudo()
    taken = add_key(bob, key)
    assert (taken.status_code, taken.json()["error"]) == (400, "invalid_security_key")
    assert bob.get("/status").json()["enabled"] is False


def test_a_registration_for_another_origin_is_refused(live_app: Any, clock: FixedClock) -> None:
    c, key = client(live_app, "alice"), SoftKey()
    c.sudo()
    from twofa_middleware import security_keys as sk

    challenge = sk.from_b64url(c.post("/security-keys/register/begin").json()["publicKey"]["challenge"], 64)
    phished = key.create(challenge, rp_id="localhost", origin="http://localhost:1")
    answer = c.post("/security-keys/register/finish", {"credential": phished, "name": "Key"})
    assert answer.status_code == 400
    assert c.get("/status").json()["enabled"] is False


def test_only_json_is_taken(live_app: Any, clock: FixedClock) -> None:
    c, key = client(live_app, "alice"), SoftKey()
    c.sudo()
    form = c.api("POST", "/security-keys/register/begin", data="x=1",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    credential = created(c, key)
    missing = c.post("/security-keys/register/finish", {"credential": credential})
    assert missing.status_code == 422


def test_the_pages_offer_keys_only_where_they_can_work(live_app: Any, clock: FixedClock) -> None:
    c, _, _ = with_key(live_app)
    html = {"Accept": "text/html"}
    at_localhost = c.request("GET", "/_2fa/verify", headers=html)
    assert 'data-twofa-webauthn="authenticate"' in at_localhost.text
    assert "Use a security key" in at_localhost.text
    cookies = "; ".join(f"{k}={v}" for k, v in c.http.cookies.items())  # the jar matches by Host
    at_ip = c.request("GET", "/_2fa/verify", headers={**html, "Host": urlsplit(live_app.url).netloc, "Cookie": cookies})
    assert at_ip.status_code == 200, at_ip.headers
    assert "Authentication code" in at_ip.text
    assert "Use a security key" not in at_ip.text and "twofa-webauthn.js" not in at_ip.text

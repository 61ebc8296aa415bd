"""Security keys and trusted browsers: what the second attacker review found, each pinned
as the answer a user now sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
from tests.unit.test_security_keys import SoftKey
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware import security_keys as sk
from twofa_middleware.adapters.headers import remote_user_identify
from twofa_middleware.store.base import NewAuthenticator
from twofa_middleware.testing import FixedClock

from .api_support import ApiClient, use_clock
from .security_key_support import add_key, created, localhost, signed


@pytest.fixture
def clock(live_app: Any) -> FixedClock:
    return use_clock(live_app)


def with_key(live_app: Any, user: str = "alice") -> tuple[ApiClient, SoftKey]:
    """A user whose only factor is a security key, signed in again (owing it)."""
    c, key = ApiClient(localhost(live_app.url)), SoftKey(credential_id=f"key-of-{user}".encode())
    c.register(user)
    c.sudo()
    assert add_key(c, key).status_code == 201
    c.login()
    return c, key


def failures(live_app: Any, user: str) -> int:
    return sum(1 for e in live_app.middleware.service.store.events(user) if e.event == "verify_failed")


# -- a sign-in with no session value to bind a ceremony to ------------------------------


@pytest.fixture
def sessionless(tmp_path: Path) -> Iterator[tuple[TwoFactorMiddleware, SQLAlchemyStore]]:
    """REMOTE_USER without a session value (remote_user_identify's X-Session-Id left out);
    alice's one factor is a security key."""
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    middleware = TwoFactorMiddleware(
        app, secret_key=SECRET_KEY, store=store, identify=remote_user_identify(), check_password=lambda u, p: True
    )
    key = SoftKey()
    store.add_authenticator(
        "alice",
        NewAuthenticator("webauthn", "Key", credential_id=sk.b64url(key.credential_id),
                         public_key=sk.b64url(key.cose_key())),
        0, [], 0.0,
    )
    yield middleware, store
    store.dispose()


@pytest.mark.parametrize("user", ["alice", "bob"], ids=["sign-in", "registration"])
def test_a_ceremony_without_a_session_value_is_a_4xx_not_a_500(
    sessionless: tuple[TwoFactorMiddleware, SQLAlchemyStore], user: str
) -> None:
    """alice (a key, owing it) begins a sign-in; bob (2FA off, password re-confirmed)
    begins a registration: with nothing to bind the challenge to, a clear 400 that
    keeps no challenge, never an unhandled ValueError."""
    middleware, store = sessionless
    client = Client(middleware)
    environ = {"REMOTE_USER": user, "HTTP_HOST": "localhost"}
    post = {"content_type": "application/json", "environ_overrides": environ}
    if user == "bob":
        assert client.post("/_2fa/api/confirm-password", data=json.dumps({"password": "x"}), **post).status_code == 200
        path = "/_2fa/api/security-keys/register/begin"
    else:
        path = "/_2fa/api/verify/security-key/begin"
    answer = client.post(path, data="{}", **post)
    assert answer.status_code == 400, answer.data
    assert answer.json["error"] == "invalid_security_key"
    assert store.take_challenge(user, 0.0) is None


# -- malformed input changes nothing --------------------------------------------------------


@pytest.mark.parametrize(
    "credential",
    [5, "not json", {"type": "public-key"}, {"id": "x", "rawId": "x", "type": "public-key", "response": {}}],
    ids=["number", "text", "no-response", "empty-response"],
)
def test_a_malformed_sign_in_counts_no_failure_and_spends_no_challenge(
    live_app: Any, clock: FixedClock, credential: Any
) -> None:
    """A body that is not a credential at all is a 400 like a malformed code: no failure
    counted toward the lockout, the challenge still there for the key's real answer."""
    c, key = with_key(live_app)
    assertion = signed(c, key)
    for _ in range(6):
        bad = c.post("/verify/security-key/finish", {"credential": credential})
        assert (bad.status_code, bad.json()["error"]) == (400, "invalid_security_key")
    assert failures(live_app, "alice") == 0
    good = c.post("/verify/security-key/finish", {"credential": assertion})
    assert good.status_code == 200, good.text


def test_a_malformed_registration_spends_no_challenge(live_app: Any, clock: FixedClock) -> None:
    c, key = ApiClient(localhost(live_app.url)), SoftKey()
    c.register("alice")
    c.sudo()
    credential = created(c, key)
    bad = c.post("/security-keys/register/finish", {"credential": {"type": "public-key"}, "name": "Key"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_security_key")
    assert c.get("/status").json()["enabled"] is False
    good = c.post("/security-keys/register/finish", {"credential": credential, "name": "Key"})
    assert good.status_code == 201, good.text


# -- a code checked under one enrollment verifies no sign-in of the next -------------------


def test_an_app_removed_while_its_code_was_checked_verifies_and_remembers_nothing(
    live_app: Any, clock: FixedClock
) -> None:
    """The thief types the stolen phone's code; at that moment the owner removes that app
    (a new epoch: "sign-ins verified with a lost or stolen app end at once"). The code was
    good when checked, but the cookies the answer sets must be for the enrollment it was
    checked under: neither a verified cookie nor a remembered browser of the new one."""
    owner = ApiClient(localhost(live_app.url))
    owner.register("alice")
    phone, _ = owner.enable(clock)
    owner.sudo()
    assert add_key(owner, SoftKey()).status_code == 201
    service = live_app.middleware.service
    (app_id,) = [a.id for a in service.store.authenticators("alice") if a.kind == "totp"]

    thief = ApiClient(owner.base_url)
    thief.login("alice")
    real_attempt = service.store.attempt

    def attempt_then_removed(*args: Any, **kwargs: Any) -> Any:
        result = real_attempt(*args, **kwargs)
        del service.store.attempt
        service.remove_authenticator("alice", app_id)  # the owner, right after the check
        return result

    service.store.attempt = attempt_then_removed
    clock.advance(30)
    answer = thief.post("/verify", {"code": phone.code(), "remember": True})
    assert answer.status_code == 200, answer.text
    assert thief.get("/tokens").status_code == 401
    thief.login("alice")  # a new sign-in in the same browser: nothing spares it the code
    assert thief.get("/tokens").status_code == 401

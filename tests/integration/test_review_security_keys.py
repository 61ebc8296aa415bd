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

"""Security keys over the JSON API: the software authenticator of tests/unit/test_security_keys.py
answering the real begin calls, as a browser's navigator.credentials would."""

from __future__ import annotations

from typing import Any

import requests

from tests.unit.test_security_keys import SoftKey
from twofa_middleware import security_keys as sk

from .api_support import ApiClient


def localhost(url: str) -> str:
    """WebAuthn refuses IP addresses: the loopback server as http://localhost:PORT."""
    return url.replace("127.0.0.1", "localhost")


def challenge_of(answer: requests.Response) -> bytes:
    assert answer.status_code == 200, answer.text
    return sk.from_b64url(answer.json()["publicKey"]["challenge"], 64)


def created(c: ApiClient, key: SoftKey) -> dict[str, Any]:
    """begin, then the key's answer to it (not yet sent)."""
    return key.create(challenge_of(c.post("/security-keys/register/begin")), rp_id="localhost", origin=c.base_url)


def add_key(c: ApiClient, key: SoftKey, name: str = "My key") -> requests.Response:
    return c.post("/security-keys/register/finish", {"credential": created(c, key), "name": name})


def signed(c: ApiClient, key: SoftKey, **options: Any) -> dict[str, Any]:
    challenge = challenge_of(c.post("/verify/security-key/begin"))
    return key.get(challenge, rp_id="localhost", origin=c.base_url, **options)


def sign_in_with(c: ApiClient, key: SoftKey, **options: Any) -> requests.Response:
    return c.post("/verify/security-key/finish", {"credential": signed(c, key, **options)})

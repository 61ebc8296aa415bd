"""The JSON contract, the same for the Flask, Pyramid and Django examples.

The app's own routes (``POST /api/register``, ``POST /api/login``, ``GET /api/me``
answering ``{"user": ...}``) and the 2FA API under ``/_2fa/api``, driven with
requests as an API caller would. Every ``/_2fa/api`` answer is also checked
against the shipped OpenAPI document (``ApiClient``).
"""

from __future__ import annotations

import requests

from tests.integration.api_support import (
    API,
    PASSWORD,
    ApiClient,
    Authenticator,
    bearer,
    openapi_document,
    use_clock,
)

from .conftest import Example, fresh_name


def enrolled(example: Example) -> tuple[ApiClient, Authenticator, list[str]]:
    """A new user who turned 2FA on through the API (this sign-in is past the factor)."""
    client = ApiClient(example.url)
    client.register(fresh_name("api"))
    app, codes = client.enable(use_clock(example.live))
    return client, app, codes


def test_register_signs_in_and_api_me_names_the_user(example: Example) -> None:
    nobody = ApiClient(example.url)
    r = nobody.me()
    assert r.status_code == 401 and r.json() == {"error": "not_signed_in"}

    client = ApiClient(example.url)
    name = fresh_name("reg")
    r = client.request("POST", "/api/register", json={"username": name, "password": PASSWORD})
    assert r.status_code == 201 and r.json() == {"user": name}
    r = client.me()
    assert r.status_code == 200 and r.json() == {"user": name}

    r = client.request("POST", "/api/register", json={"username": name, "password": PASSWORD})
    assert r.status_code == 409 and r.json() == {"error": "user_exists"}

    other = ApiClient(example.url)
    r = other.request("POST", "/api/login", json={"username": name, "password": "not the password"})
    assert r.status_code == 401 and r.json() == {"error": "invalid_credentials"}
    r = other.request("POST", "/api/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200 and r.json() == {"user": name}
    assert other.me().json() == {"user": name}  # no 2FA yet: not challenged


def test_a_new_sign_in_is_challenged_until_the_right_code(example: Example) -> None:
    client, app, codes = enrolled(example)
    assert len(codes) == 10
    assert client.me().json() == {"user": client.user}  # enrolling proved the second factor

    client.login()
    r = client.me()
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    assert client.get("/status").json()["verified"] is False

    r = client.verify(app.wrong_code())
    assert r.status_code == 400 and r.json()["error"] == "invalid_code"
    assert client.me().status_code == 401

    r = client.verify(app.code())
    assert r.status_code == 200 and r.json() == {"verified": True, "method": "totp"}
    r = client.me()
    assert r.status_code == 200 and r.json() == {"user": client.user}


def test_a_recovery_code_works_once(example: Example) -> None:
    client, _app, codes = enrolled(example)

    client.login()
    r = client.verify(codes[0])
    assert r.status_code == 200 and r.json() == {"verified": True, "method": "recovery"}
    assert client.me().json() == {"user": client.user}

    client.login()
    r = client.verify(codes[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_code"
    assert client.me().status_code == 401
    assert client.verify(codes[1]).status_code == 200
    assert client.me().json() == {"user": client.user}


def test_a_personal_access_token_reaches_the_app_as_its_owner_without_cookies(example: Example) -> None:
    client, app, _codes = enrolled(example)
    client.login()
    assert client.verify(app.code()).status_code == 200
    r = client.post("/tokens", {"name": "script"})
    assert r.status_code == 403 and r.json()["error"] == "password_required"  # sudo first
    client.sudo()
    _id, token = client.create_token("script")

    r = bearer(example.url, token, "/api/me")
    assert r.status_code == 200 and r.json() == {"user": client.user}
    r = bearer(example.url, token[:-2] + "xx", "/api/me")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"


def test_disabling_through_the_api_ends_the_challenge(example: Example) -> None:
    client, app, _codes = enrolled(example)
    client.login()
    assert client.verify(app.code()).status_code == 200

    r = client.post("/disable")
    assert r.status_code == 403 and r.json()["error"] == "password_required"
    client.sudo()
    r = client.post("/disable")
    assert r.status_code == 200 and r.json() == {"enabled": False}

    client.login()
    r = client.me()
    assert r.status_code == 200 and r.json() == {"user": client.user}  # not challenged any more
    assert client.get("/status").json()["enabled"] is False


def test_the_2fa_api_is_the_shared_implementation(example: Example) -> None:
    r = requests.get(example.url + API + "/openapi.json", timeout=10)
    assert r.status_code == 200 and r.json() == openapi_document()


def test_a_signed_out_visitor_to_the_2fa_pages_is_sent_to_the_apps_sign_in(example: Example) -> None:
    r = requests.get(example.url + "/_2fa/setup", headers={"Accept": "text/html"}, timeout=10)
    assert r.status_code == 200 and r.url == example.url + "/login?next=/_2fa/setup"
    r = requests.get(example.url + API + "/status", timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "not_signed_in"

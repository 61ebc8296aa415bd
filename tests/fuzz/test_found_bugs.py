"""What the fuzzers found, one minimal request each: these fail until src/ is fixed.

Each test names the property it breaks (see tests/fuzz/README.md)."""

from __future__ import annotations

import json

import pytest

from .checks import checked
from .conftest import FlaskWorld, ProxyWorld
from .helpers import API, MOUNT, Req, snapshot

pytestmark = pytest.mark.fuzz


def _json(world: FlaskWorld, persona: str, method: str, path: str, body: bytes | None = None) -> Req:
    headers = [("Accept", "application/json"), ("Cookie", world.persona(persona) or "")]
    if body is not None:
        headers.append(("Content-Type", "application/json"))
    return Req(method, path, headers=headers, body=body or b"")


def test_a_lone_surrogate_password_is_a_400_not_a_500(flask_world: FlaskWorld) -> None:
    """Property 1: POST /_2fa/api/confirm-password {"password": "\\ud800"} -> 500 (UnicodeEncodeError
    in the app's check_password, which the middleware calls unguarded)."""
    flask_world.reset()
    req = _json(flask_world, "bob", "POST", f"{API}/confirm-password", b'{"password": "\\ud800"}')
    checked(flask_world.send, req, [flask_world.db_path])


def test_a_token_path_with_a_lone_surrogate_does_not_break_the_tokens_page(flask_world: FlaskWorld) -> None:
    """Property 1: a token created with paths ["/\\ud800"] is stored (201), then GET /_2fa/tokens
    is a 500 for its owner for as long as the token lives."""
    w = flask_world
    w.reset()
    create = _json(w, "bob", "POST", f"{API}/tokens", b'{"name": "n", "paths": ["/\\ud800"]}')
    checked(w.send, create, [w.db_path])
    page = Req("GET", f"{MOUNT}/tokens", headers=[("Accept", "text/html"), ("Cookie", w.persona("bob") or "")])
    checked(w.send, page, [w.db_path])


def test_a_token_name_that_grows_under_nfc_is_refused(flask_world: FlaskWorld) -> None:
    """Stored-limits check: "\\ufb2c" * 100 is 100 characters, 300 after NFC; the length is
    checked before normalising, so a 300-character name is stored in a String(100) column
    (SQLite keeps it; PostgreSQL would refuse the INSERT: a 503)."""
    w = flask_world
    w.reset()
    checked(w.send, _json(w, "bob", "POST", f"{API}/tokens", json.dumps({"name": "\ufb2c" * 100}).encode()),
            [w.db_path])


def test_a_token_refused_for_its_path_is_not_marked_used(flask_world: FlaskWorld) -> None:
    """Property 2: alice's token limited to /api, sent to /settings: 401 invalid_token, yet
    twofa_tokens.last_used_at is set (authenticate_token touches before checking expiry and paths)."""
    w = flask_world
    w.reset()
    req = Req("GET", "/settings", headers=[("Authorization", f"Bearer {w.tokens['alice.api']}")])
    before = snapshot(w.db_path, excluded=False)["twofa_tokens"]
    resp = checked(w.send, req, [w.db_path])
    assert resp.status == 401
    assert snapshot(w.db_path, excluded=False)["twofa_tokens"] == before, "a refused token was stamped as used"


def test_a_failed_setup_post_stores_nothing(flask_world: FlaskWorld) -> None:
    """Property 2: carol (no 2FA, password re-confirmed) posts the setup form with a valid CSRF
    token but no pending setup and no code: 400, and a new pending secret is stored (the error
    page calls service.enrollment(), which creates one)."""
    w = flask_world
    w.reset()
    req = Req("POST", f"{MOUNT}/setup", headers=[
        ("Accept", "text/html"), ("Cookie", w.persona("carol") or ""),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ], body=f"csrf_token={w.csrf['carol']}".encode())
    checked(w.send, req, [w.db_path])


def test_a_raw_non_utf8_byte_in_the_query_is_not_a_500(flask_world: FlaskWorld) -> None:
    """Property 1: a request line with a raw 0xE9 byte in the query (QUERY_STRING "next=/\\xe9",
    as werkzeug's and other servers pass it) -> 500 UnicodeDecodeError in werkzeug's
    request.args, read by the pages' next_url()."""
    w = flask_world
    w.reset()
    req = Req("GET", f"{MOUNT}/confirm-password", query="next=/\xe9",
              headers=[("Accept", "text/html"), ("Cookie", w.persona("bob") or "")])
    checked(w.send, req, [w.db_path])


def test_a_superscript_content_length_is_a_400_in_the_proxy(proxy_world: ProxyWorld) -> None:
    """Property 1: "²".isdigit() is True but int("²") raises: ReverseProxy._body -> 500."""
    w = proxy_world
    w.reset()
    req = Req("POST", "/page", headers=[("Content-Length", "²"), ("Content-Type", "text/plain")], body=b"x")
    before = snapshot(w.db_path)
    checked(lambda r: w.send(w.proxy, r), req, [w.db_path])
    assert snapshot(w.db_path) == before

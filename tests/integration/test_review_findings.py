"""The review's findings 4 and 5 and its hardening notes, each as the answer a user now sees.

Findings 1 to 3 (forward auth behind nginx) are proved end to end in ``tests/e2e``;
the throttle race of finding 4 on both databases in ``tests/postgres/test_races.py``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import requests
from sqlalchemy import event
from werkzeug.test import Client

from tests.helpers import SECRET_KEY
from tests.integration.api_support import API, ApiClient, bearer, use_clock
from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.proxy import ReverseProxy


def snapshot(db_url: str) -> dict[str, list[Any]]:
    """Every stored row of the 2FA tables but the security log (which records refusals on purpose)."""
    path = db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}")))  # noqa: S608 - names from the schema
            for t in tables
            if t.startswith("twofa_") and t != "twofa_security_log"
        }


@pytest.mark.parametrize(
    "path, body",
    [
        pytest.param("/confirm-password", {"password": "\ud800"}, id="lone-surrogate-password"),
        pytest.param("/tokens", {"name": "t", "paths": ["/\ud800"]}, id="lone-surrogate-token-path"),
        pytest.param("/tokens", {"name": "\ufb2c" * 100}, id="token-name-grows-under-nfc"),
        pytest.param("/tokens", {"name": "a\x00b"}, id="nul-in-token-name"),
        pytest.param("/tokens", {"name": "t", "\ud800": 1}, id="lone-surrogate-key"),
    ],
)
def test_bad_text_in_json_is_a_clear_400_that_stores_nothing(live_app, path, body):
    """Finding 5: these were a 500 (surrogate password), a token that made
    /_2fa/tokens a 500 for good (surrogate path), and a 503 on PostgreSQL (NFC)."""
    client = ApiClient(live_app.url, validate=False)
    client.register("hygiene")
    live_app.middleware.service.store.create_schema()
    if path == "/tokens":
        client.sudo()
    before = snapshot(live_app.db_url)
    r = client.post(path, body)
    assert r.status_code in (400, 422), r.text
    assert r.json()["error"] == "invalid_request"
    assert snapshot(live_app.db_url) == before
    assert client.request("GET", "/_2fa/tokens", headers={"Accept": "text/html"}).status_code == 200


def test_a_failed_password_confirmation_is_logged_once_and_a_right_one_not_at_all(live_app):
    """Reserve-then-check writes the failure first; a right password takes it back."""
    use_clock(live_app)
    client = ApiClient(live_app.url)
    client.register("reserver")
    assert client.post("/confirm-password", {"password": "wrong"}).status_code == 403
    client.sudo()
    log = [e.event for e in live_app.middleware.service.store.events("reserver")]
    assert log.count("password_failed") == 1


def test_a_non_ascii_digit_content_length_is_a_400_from_the_proxy():
    """Finding 5: ``"²".isdigit()`` is true, and ``int("²")`` raises: it was a 500."""
    proxy = ReverseProxy("http://127.0.0.1:9")  # refused before any connection is tried
    environ_overrides = {"CONTENT_LENGTH": "²", "REQUEST_METHOD": "POST"}
    r = Client(proxy).open("/upload", environ_overrides=environ_overrides, data=b"x",
                           headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.json["error"] == "invalid_request"


# -- hardening seen on the way ----------------------------------------------------------------


def test_a_flood_of_made_up_tokens_costs_one_query_per_token_and_cache_period(live_app):
    """A well-formed token the store does not know is remembered as unknown for
    ``cache_seconds``: 50 requests with it cost one query, not 50."""
    from twofa_middleware import tokens

    made_up = tokens.mint()
    store = live_app.middleware.service.store
    queries: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "token_hash" in statement:
            queries.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        answers = {bearer(live_app.url, made_up, "/api/me").status_code for _ in range(50)}
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert answers == {401}
    assert len(queries) == 1


def test_a_real_token_still_works_after_made_up_ones(live_app):
    clock = use_clock(live_app)
    client = ApiClient(live_app.url)
    client.register("scripter")
    client.enable(clock)
    client.sudo()
    _, token = client.create_token()
    assert bearer(live_app.url, token[:-1] + ("A" if token[-1] != "A" else "B"), "/api/me").status_code == 401
    r = bearer(live_app.url, token, "/api/me")
    assert r.status_code == 200 and r.json() == {"user": "scripter"}


def test_a_tossed_duplicate_verified_cookie_does_not_lock_the_user_into_re_verifying(tmp_path):
    """A second ``twofa_verified`` cookie (another path, or set by a sibling subdomain)
    beside the valid one: any valid value among them counts."""
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/dup.db")

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    middleware = TwoFactorMiddleware(
        app, secret_key=SECRET_KEY, store=store, check_password=lambda u, p: True,
        identify=lambda environ: Identity("alice", "nonce-1"),
    )
    try:
        store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], 0.0)
        epoch = store.user_state("alice").epoch
        good = middleware.cookies.verified_value(Identity("alice", "nonce-1"), epoch)
        other = middleware.cookies.verified_value(Identity("alice", "an-old-sign-in"), epoch)
        name = middleware.cookies.verified_name
        headers = {"Accept": "application/json"}
        for cookie in (f"{name}=junk; {name}={good}", f"{name}={other}; {name}={good}"):
            r = Client(middleware, use_cookies=False).get("/home", headers={**headers, "Cookie": cookie})
            assert r.status_code == 200 and r.data == b"app", cookie
        stale = f"{name}=junk; {name}={other}"
        r = Client(middleware, use_cookies=False).get("/home", headers={**headers, "Cookie": stale})
        assert r.status_code == 401
    finally:
        store.dispose()


def test_the_api_refuses_a_json_body_with_surrogates_before_the_password_check(tmp_path):
    """The app's check_password (a true boundary, recorded here) is never handed text it cannot encode."""
    seen: list[str] = []
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/pw.db")
    middleware = TwoFactorMiddleware(
        lambda environ, start_response: [], secret_key=SECRET_KEY, store=store,
        identify=lambda environ: Identity("alice", "nonce-1"),
        check_password=lambda user, password: bool(seen.append(password)),
    )
    try:
        r = Client(middleware).post(
            API + "/confirm-password", data=b'{"password": "\\udc80"}', headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400 and r.json["error"] == "invalid_request"
        assert seen == []
    finally:
        store.dispose()


@pytest.mark.parametrize("user", ["\udcff", "a\x01b", "x" * 256, ""])
@pytest.mark.parametrize("command", [["status"], ["reset", "--yes"], ["tokens", "list"], ["log", "--user"]])
def test_the_command_refuses_a_user_id_that_is_not_clean_text(tmp_path, command, user):
    """A mis-decoded command line (lone surrogates) or control characters: a usage error, no query."""
    from click.testing import CliRunner

    from twofa_middleware.cli import main

    db = tmp_path / "cli.db"
    result = CliRunner().invoke(main, ["--database-url", f"sqlite:///{db}", *command, user])
    assert result.exit_code == 2, result.output
    assert "not a valid user id" in result.output
    assert not db.exists()


def test_a_cookie_byte_that_is_not_utf8_is_never_a_500_in_process(live_app):
    """werkzeug's ``parse_cookie`` decodes the header as UTF-8 and raised; the app's own
    ``Request.cookies`` reads it as latin-1. The middleware now reads it as the app does."""
    client = ApiClient(live_app.url, validate=False)
    client.register("bytes")
    session = client.http.cookies["session"]
    for path in ("/api/me", "/_2fa/api/status"):
        r = requests.get(live_app.url + path, headers={"Cookie": f"session={session}; x=\xe9".encode("latin-1")},
                         timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)

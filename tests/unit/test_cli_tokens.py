"""``twofa tokens``: create, list, revoke, against a store given by TWOFA_DATABASE_URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from twofa_middleware import tokens
from twofa_middleware.cli import main
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidToken
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv("TWOFA_SECRET_KEY", raising=False)

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return CliRunner().invoke(main, list(args), env={"TWOFA_DATABASE_URL": db_url})

    return invoke


def _service(db_url: str) -> TwoFactorService:
    return TwoFactorService(
        Settings(cache_seconds=0), KeyRing("another-key-entirely-0123456789"), SQLAlchemyStore(db_url),
        lambda user_id, password: False,
    )


def test_create_prints_the_token_alone_on_the_last_line(run, db_url):
    result = run("tokens", "create", "alice", "--name", "ci deploy", "--expires-days", "7",
                 "--path", "/api", "--path", "/hooks")
    assert result.exit_code == 0, result.output
    token = result.stdout.rstrip("\n").splitlines()[-1]
    assert tokens.is_well_formed(token)
    service = _service(db_url)
    try:
        record = service.authenticate_token(token, "/api/me")
        assert (record.user_id, record.name, record.paths) == ("alice", "ci deploy", ("/api", "/hooks"))
        assert round((record.expires_at - record.created_at) / 86400) == 7
        with pytest.raises(InvalidToken):
            service.authenticate_token(token, "/elsewhere")
        assert [e.event for e in service.store.events("alice")] == ["token_created"]
    finally:
        service.store.dispose()


def test_list_shows_tokens_but_never_the_token(run):
    assert run("db", "create").exit_code == 0
    assert run("tokens", "list", "alice").output.strip() == "no tokens for alice"
    token = run("tokens", "create", "alice", "--name", "first").stdout.splitlines()[-1]
    run("tokens", "create", "alice", "--name", "second")
    result = run("tokens", "list", "alice")
    assert result.exit_code == 0
    assert "first" in result.output and "second" in result.output
    assert token[:10] in result.output and token not in result.output
    assert "no tokens for bob" in run("tokens", "list", "bob").output


def test_revoke_ends_the_token(run, db_url):
    token = run("tokens", "create", "alice", "--name", "gone").stdout.splitlines()[-1]
    service = _service(db_url)
    try:
        (record,) = service.tokens.list_tokens("alice")
        result = run("tokens", "revoke", str(record.id))
        assert result.exit_code == 0 and "revoked token" in result.output
        with pytest.raises(InvalidToken):
            service.authenticate_token(token, "/")
        assert "no tokens" in run("tokens", "list", "alice").output
        again = run("tokens", "revoke", str(record.id))
        assert again.exit_code == 1 and "No such token" in again.output
    finally:
        service.store.dispose()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--expires-days", "0"], id="zero-days"),
        pytest.param(["--expires-days", "100000"], id="too-many-days"),
        pytest.param(["--path", "relative"], id="relative-path"),
        pytest.param(["--name", ""], id="empty-name"),
    ],
)
def test_create_refuses_bad_input_cleanly(run, args):
    assert run("db", "create").exit_code == 0
    result = run("tokens", "create", "alice", "--name", "x", *args)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "Traceback" not in result.output
    assert "no tokens" in run("tokens", "list", "alice").output


def test_the_database_url_option_is_honoured(tmp_path):
    url = f"sqlite:///{tmp_path}/other.db"
    result = CliRunner().invoke(main, ["--database-url", url, "tokens", "create", "zoe", "--name", "n"])
    assert result.exit_code == 0, result.output
    store = SQLAlchemyStore(url)
    try:
        assert [t.name for t in store.tokens("zoe")] == ["n"]
    finally:
        store.dispose()

"""``twofa`` for operators: --json on every read command, ``reset`` through the service
(notify hook, 2FA off and tokens revoked in one transaction), and a missing or
unreachable database as one line and exit code 2 for every command (#14)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner, Result

from twofa_middleware.cli import main
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidToken
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

from . import cli_notify
from .helpers import KEY

UNREACHABLE = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=1"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", db_url, *args])


def service(db_url: str) -> TwoFactorService:
    return TwoFactorService(Settings(cache_seconds=0), KeyRing(KEY), SQLAlchemyStore(db_url), lambda u, p: True)


def enrolled_with_tokens(db_url: str, user: str = "alice", live: int = 2) -> list[str]:
    """``user`` has 2FA on, ``live`` live tokens and one already revoked; returns the live tokens."""
    s = service(db_url)
    try:
        s.confirm_enrollment(user, pyotp.TOTP(s.enrollment(user).secret).now())
        made = [s.tokens.create_token(user, f"t{i}", 30, None) for i in range(live + 1)]
        s.tokens.revoke_token(made[-1][0], user)
        return [token for _, token in made[:live]]
    finally:
        s.store.dispose()


# -- --json on every read command ----------------------------------------------------------


def test_tokens_list_speaks_json_and_never_shows_a_token(db_url):
    assert run(db_url, "db", "create").exit_code == 0
    assert json.loads(run(db_url, "tokens", "list", "alice", "--json").output) == []
    token = run(db_url, "tokens", "create", "alice", "--name", "ci", "--path", "/api").stdout.splitlines()[-1]
    result = run(db_url, "tokens", "list", "alice", "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["name"] == "ci" and entry["user"] == "alice" and entry["paths"] == ["/api"]
    assert entry["last_used_at"] is None and entry["expires_at"].endswith("Z")
    assert token.startswith(entry["prefix"]) and token not in result.output
    table = run(db_url, "tokens", "list", "alice").output.splitlines()
    assert table[0].split() == ["ID", "NAME", "PREFIX", "CREATED", "EXPIRES", "LAST", "USED", "PATHS"]
    assert table[1].split()[1:3] == ["ci", entry["prefix"]]


@pytest.mark.parametrize("command", [["status", "alice"], ["log"], ["tokens", "list", "alice"]])
def test_every_read_command_takes_json(db_url, command):
    assert run(db_url, "db", "create").exit_code == 0
    result = run(db_url, *command, "--json")
    assert result.exit_code == 0, result.output
    json.loads(result.output)


# -- a missing or unreachable database ----------------------------------------------------------

EVERY_COMMAND = [
    ["status", "alice"], ["log"], ["unlock", "alice"], ["reset", "--yes", "alice"],
    ["tokens", "list", "alice"], ["tokens", "revoke", "1"], ["tokens", "create", "alice", "--name", "n"],
    ["db", "create"], ["db", "upgrade"],
]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=lambda c: "-".join(c[:2]))
def test_an_unreachable_database_is_one_line_and_exit_code_2_for_every_command(command):
    result = run(UNREACHABLE, *command)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "cannot be reached" in lines[0], result.output
    assert "secret" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", [["tokens", "list", "alice"], ["tokens", "revoke", "1"]])
def test_token_reads_in_the_wrong_folder_say_so_and_create_no_database(tmp_path, command):
    missing = tmp_path / "twofa.db"
    result = run(f"sqlite:///{missing}", *command)
    assert result.exit_code == 2 and f"no 2FA database at {missing}" in result.output
    assert not missing.exists()


# -- reset ------------------------------------------------------------------------------------------


def test_reset_turns_2fa_off_revokes_the_tokens_and_says_how_many(db_url):
    live = enrolled_with_tokens(db_url)
    result = run(db_url, "reset", "--yes", "alice")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "two-factor authentication turned off for alice", "revoked: 2 personal access tokens, 0 trusted browsers",
    ]
    s = service(db_url)
    try:
        assert s.state("alice").enabled is False
        for token in live:
            with pytest.raises(InvalidToken):
                s.authenticate_token(token, "/api")
        (event, *_) = s.store.events("alice")
        assert (event.event, event.detail) == ("disabled", "reset by operator; tokens revoked: 2; browsers revoked: 0")
    finally:
        s.store.dispose()


def test_reset_tells_the_apps_notify_hook(db_url):
    enrolled_with_tokens(db_url, live=1)
    cli_notify.NOTIFIED.clear()
    result = run(db_url, "reset", "--yes", "--notify", "tests.unit.cli_notify:notify", "--json", "alice")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"user": "alice", "enabled": False, "tokens_revoked": 1, "browsers_revoked": 0}
    assert cli_notify.NOTIFIED == [("alice", "disabled")]


@pytest.mark.parametrize("spec", ["tests.unit.no_such_module:notify", "tests.unit.cli_notify:missing",
                                  "tests.unit.cli_notify:NOT_A_FUNCTION", "tests.unit.cli_notify"])
def test_a_bad_notify_hook_is_a_usage_error_and_changes_nothing(db_url, spec):
    enrolled_with_tokens(db_url, live=1)
    result = run(db_url, "reset", "--yes", "--notify", spec, "alice")
    assert result.exit_code == 2 and "--notify" in result.output and "Traceback" not in result.output
    s = service(db_url)
    try:
        assert s.state("alice").enabled is True and len(s.tokens.list_tokens("alice")) == 1
    finally:
        s.store.dispose()


def test_reset_of_a_user_without_2fa_changes_nothing(db_url):
    s = service(db_url)
    try:
        s.tokens.create_token("bob", "script", 30, None)
    finally:
        s.store.dispose()
    result = run(db_url, "reset", "--yes", "bob")
    assert result.exit_code == 1 and "bob does not have two-factor authentication enabled" in result.output
    s = service(db_url)
    try:
        assert len(s.tokens.list_tokens("bob")) == 1
    finally:
        s.store.dispose()


def test_reset_asks_first_and_a_no_changes_nothing(db_url):
    enrolled_with_tokens(db_url, live=1)
    result = CliRunner().invoke(main, ["--database-url", db_url, "reset", "alice"], input="n\n")
    assert result.exit_code == 1 and "revoke their tokens and trusted browsers?" in result.output
    s = service(db_url)
    try:
        assert s.state("alice").enabled is True and len(s.tokens.list_tokens("alice")) == 1
    finally:
        s.store.dispose()


def test_reset_is_one_transaction_a_failed_revocation_leaves_2fa_on(db_url, tmp_path):
    enrolled_with_tokens(db_url, live=1)
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        conn.execute("CREATE TRIGGER no_revoke BEFORE UPDATE ON twofa_tokens BEGIN SELECT RAISE(ABORT, 'no'); END")
    result = run(db_url, "reset", "--yes", "alice")
    assert result.exit_code == 2 and "cannot be reached or read" in result.output
    s = service(db_url)
    try:
        assert s.state("alice").enabled is True  # the disabling was rolled back with the revocation
        assert s.store.recovery_codes("alice") != []
    finally:
        s.store.dispose()

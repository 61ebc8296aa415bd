"""``twofa reset`` on SQLite and PostgreSQL: 2FA off and the user's live tokens revoked
in one transaction, through the command and through the store (#14)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from twofa_middleware.cli import main
from twofa_middleware.errors import StoreUnavailable
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import ResetCounts


def enabled_with_tokens(store: SQLAlchemyStore, user: str = "alice") -> list[int]:
    """``user`` has 2FA on, two live tokens and one revoked; bob has a live token."""
    store.enable(user, "encrypted-secret", 0, [("hash1", "enc1")], 100.0)
    ids = [store.add_token(user, f"t{i}", "tfa_x", f"h{user}{i}", (), None, 100.0) for i in range(3)]
    store.revoke_token(ids[2], user, 150.0)
    store.add_token("bob", "b", "tfa_y", "hbob", (), None, 100.0)
    store.add_trusted_browser(user, "f" * 64, "Firefox on Linux", None, 1, 10_000.0, 100.0)
    store.add_trusted_browser("bob", "e" * 64, "Safari on macOS", None, 1, 10_000.0, 100.0)
    return ids


def test_reset_disables_and_revokes_only_that_users_live_tokens_and_browsers(store):
    ids = enabled_with_tokens(store)
    assert store.reset("alice", 200.0) == ResetCounts(tokens_revoked=2, browsers_revoked=1)
    assert store.trusted_browsers("alice", 200.0) == [] and len(store.trusted_browsers("bob", 200.0)) == 1
    assert store.user_state("alice").enabled is False and store.recovery_codes("alice") == []
    assert store.tokens("alice") == []
    revoked = [store.token_by_hash(f"halice{i}") for i in range(3)]
    assert [(r.id, r.revoked_at) for r in revoked if r is not None] == [(ids[0], 200.0), (ids[1], 200.0),
                                                                         (ids[2], 150.0)]
    assert [t.revoked_at for t in store.tokens("bob")] == [None]
    assert store.reset("alice", 300.0) is None  # already off: nothing changes


def test_the_command_resets_and_counts(store, db_url):
    enabled_with_tokens(store)
    result = CliRunner().invoke(main, ["--database-url", db_url, "reset", "--yes", "alice"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "revoked: 2 personal access tokens, 1 trusted browser"
    assert store.user_state("alice").enabled is False


def test_a_failed_revocation_rolls_the_disabling_back(store, db_url):
    enabled_with_tokens(store)
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION no_revoke() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'no'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER no_revoke BEFORE UPDATE ON twofa_tokens FOR EACH ROW EXECUTE FUNCTION no_revoke()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER no_revoke BEFORE UPDATE ON twofa_tokens BEGIN SELECT RAISE(ABORT, 'no'); END"
            )
    with pytest.raises(StoreUnavailable):
        store.reset("alice", 200.0)
    assert store.user_state("alice").enabled is True
    assert store.recovery_codes("alice") != []

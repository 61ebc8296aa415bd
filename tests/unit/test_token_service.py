"""token_service: the token steps run on the settings and the store alone, with no keys."""

from __future__ import annotations

import pytest

from twofa_middleware import tokens
from twofa_middleware.config import Settings
from twofa_middleware.errors import InvalidRequest, NoSuchToken
from twofa_middleware.testing import FixedClock
from twofa_middleware.token_service import TokenService


@pytest.fixture
def calls() -> list[tuple[str, object]]:
    """What the service told its hooks, in order."""
    return []


@pytest.fixture
def steps(store, calls):
    return TokenService(
        Settings(max_token_days=30), store, FixedClock(1_700_000_000.0),
        announce=lambda user_id, event: calls.append(("announce", event)),
        forget=lambda token_id: calls.append(("forget", token_id)),
    )


def test_a_created_token_is_stored_by_its_hash_and_logged(steps, store, calls):
    token_id, token = steps.create_token("alice", "ci", 7, ["/api"])
    record = store.token_by_hash(tokens.hash_token(token))
    assert record is not None and record.id == token_id and record.paths == ("/api",)
    assert record.expires_at == 1_700_000_000.0 + 7 * 86400
    assert [e.event for e in store.events("alice")] == ["token_created"]
    assert calls == [("announce", "token_created")]


@pytest.mark.parametrize(
    "name, days, paths",
    [
        pytest.param("", 7, None, id="no-name"),
        pytest.param("ci", 31, None, id="past-max-token-days"),
        pytest.param("ci", True, None, id="days-as-bool"),
        pytest.param("ci", 7, ["relative"], id="relative-path"),
    ],
)
def test_bad_input_creates_nothing(steps, store, name, days, paths):
    with pytest.raises(InvalidRequest):
        steps.create_token("alice", name, days, paths)
    assert store.tokens("alice") == [] and store.events("alice") == []


def test_revoking_forgets_the_token_before_announcing_it(steps, calls):
    token_id, _ = steps.create_token("alice", "ci")
    calls.clear()
    record = steps.revoke_token(token_id, None)
    assert record.user_id == "alice" and steps.list_tokens("alice") == []
    assert calls == [("forget", token_id), ("announce", "token_revoked")]
    with pytest.raises(NoSuchToken):
        steps.revoke_token(token_id, None)

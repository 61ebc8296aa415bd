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


def test_a_token_in_use_is_stamped_once_a_minute_while_its_record_is_cached(store):
    """Every request reads the cached record; the store is written at most once a minute per process."""
    from twofa_middleware.crypto import KeyRing
    from twofa_middleware.service import TwoFactorService

    clock = FixedClock(1_700_000_000.0)
    service = TwoFactorService(Settings(cache_seconds=60), KeyRing("k" * 40), store, lambda u, p: False, clock=clock)
    _, token = service.tokens.create_token("alice", "ci", 7, [])
    stamps = []
    for _ in range(3):
        for _ in range(5):
            record = service.token_record(token)
            assert record is not None
            service.note_token_use(record)
            stamps.append(store.token_by_hash(tokens.hash_token(token)).last_used_at)
            clock.advance(10)
        clock.advance(20)
    assert sorted(set(stamps)) == [1_700_000_000.0, 1_700_000_070.0, 1_700_000_140.0]

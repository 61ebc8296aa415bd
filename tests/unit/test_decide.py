"""The one decision, checked as a value: facts in, decision out, a fixed clock and no HTTP."""

from __future__ import annotations

import pytest

from twofa_middleware.decision import Challenge, Facts, Pass, Policy, Refuse, decide
from twofa_middleware.identity import Identity
from twofa_middleware.store.base import TokenRecord, UserState

NOW = 1_800_000_000.0
POLICY = Policy(("/logout", "/static/"), {"verify": "/_2fa/verify"})
ALICE = Identity("alice", "nonce-1", expires_at=NOW + 600)
ON = UserState(enabled=True, epoch=3, recovery_codes_left=7)
OFF = UserState(enabled=False, epoch=2)


def token(**fields: object) -> TokenRecord:
    values: dict[str, object] = {
        "id": 9, "user_id": "alice", "name": "ci", "prefix": "tfa_abc", "paths": ("/api",), "created_at": NOW - 10,
        "expires_at": NOW + 10, "last_used_at": None, "revoked_at": None,
    }
    values.update(fields)
    return TokenRecord(**values)  # type: ignore[arg-type]


def kind(decision: object) -> str:
    if isinstance(decision, Pass):
        info = decision.info
        return f"pass {info.user_id} verified={info.verified}" + (" remembered" if decision.remember_until else "")
    if isinstance(decision, Challenge):
        return f"challenge {decision.step}"
    assert isinstance(decision, Refuse)
    return f"refuse {decision.status} {decision.code}"


@pytest.mark.parametrize(
    "facts, expected",
    [
        pytest.param(Facts("/"), "pass None verified=False", id="anonymous"),
        pytest.param(Facts("/home", ALICE, OFF), "pass alice verified=True remembered", id="no-2fa"),
        pytest.param(Facts("/home", ALICE, OFF, enrollment_required=True), "challenge enroll", id="must-enroll"),
        pytest.param(Facts("/logout", ALICE, OFF, enrollment_required=True), "pass alice verified=True",
                     id="must-enroll-exempt-not-remembered"),
        pytest.param(Facts("/home", ALICE, ON), "challenge verify", id="owes-code"),
        pytest.param(Facts("/home", ALICE, ON, verified_until=NOW + 60), "pass alice verified=True remembered",
                     id="verified"),
        pytest.param(Facts("/home", Identity("alice", ""), ON, verified_until=NOW + 60), "challenge verify",
                     id="verified-but-no-session-key"),
        pytest.param(Facts("/logout", ALICE, ON), "pass alice verified=False", id="exempt"),
        pytest.param(Facts("/logout-all", ALICE, ON), "challenge verify", id="exempt-is-whole-segments"),
        pytest.param(Facts("/static/app.css", ALICE, ON), "pass alice verified=False", id="exempt-folder"),
        pytest.param(Facts("/home", ALICE, None), "refuse 503 store_unavailable", id="no-state-fails-closed"),
        pytest.param(Facts("/home", ALICE, store_down=True), "refuse 503 store_unavailable", id="store-down"),
        pytest.param(Facts("/api/x", token=token()), "pass alice verified=True", id="token"),
        pytest.param(Facts("/apix", token=token()), "refuse 401 invalid_token", id="token-out-of-scope"),
        pytest.param(Facts("/api/x", token=token(revoked_at=NOW - 1)), "refuse 401 invalid_token", id="revoked"),
        pytest.param(Facts("/api/x", token=token(expires_at=NOW)), "refuse 401 invalid_token", id="expired"),
        pytest.param(Facts("/api/x", token_refused="invalid_token"), "refuse 401 invalid_token", id="unknown-token"),
        pytest.param(Facts("/api/x", state=OFF, enrollment_required=True, token=token()),
                     "refuse 403 two_factor_enrollment_required", id="token-owner-must-enroll"),
        pytest.param(Facts("/api/x", state=ON, enrollment_required=True, token=token()),
                     "pass alice verified=True", id="token-owner-enrolled"),
    ],
)
def test_decide(facts: Facts, expected: str) -> None:
    facts = Facts(**{**{f: getattr(facts, f) for f in facts.__slots__}, "now": NOW})  # type: ignore[attr-defined]
    assert kind(decide(facts, POLICY)) == expected


def test_a_remembered_pass_ends_with_the_verified_cookie_or_the_session_whichever_is_first() -> None:
    early_cookie = decide(Facts("/", ALICE, ON, verified_until=NOW + 60, now=NOW), POLICY)
    early_session = decide(Facts("/", ALICE, ON, verified_until=NOW + 6000, now=NOW), POLICY)
    assert isinstance(early_cookie, Pass) and early_cookie.remember_until == NOW + 60
    assert isinstance(early_session, Pass) and early_session.remember_until == ALICE.expires_at


def test_a_token_pass_carries_the_token_and_is_never_remembered_by_cookie() -> None:
    decision = decide(Facts("/api/x", token=token(), now=NOW), POLICY)
    assert isinstance(decision, Pass)
    assert (decision.info.token_id, decision.info.token_name, decision.info.token_paths) == (9, "ci", ("/api",))
    assert decision.remember_until is None


@pytest.mark.parametrize("path", ["/logout/../secret", "/static/./x", "/api/..", "/reports/../secret"])
@pytest.mark.parametrize(
    "facts",
    [
        pytest.param(lambda path: Facts(path, ALICE, ON), id="owes-code"),
        pytest.param(lambda path: Facts(path, token=token(paths=("/reports",))), id="scoped-token"),
        pytest.param(Facts, id="anonymous"),
    ],
)
def test_a_path_with_dot_segments_is_refused_before_exempt_paths_or_token_scopes(path, facts) -> None:
    """Pyramid's traversal resolves ``..`` after the middleware judged the prefix:
    ``/logout/../secret`` was exempt and served ``/secret`` (attacker's review)."""
    decision = decide(facts(path), Policy(("/logout", "/static/"), {}))
    assert isinstance(decision, Refuse) and (decision.status, decision.code) == (400, "ambiguous_request")

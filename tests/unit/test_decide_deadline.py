"""Enrollment deadlines in the one decision: before, at and after, exempt paths, tokens (#14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from twofa_middleware.config import Settings
from twofa_middleware.decision import Challenge, Facts, Pass, Policy, Refuse, decide
from twofa_middleware.identity import Identity
from twofa_middleware.store.base import TokenRecord, UserState

NOW = 1_800_000_000.0
DAY = 86400.0
POLICY = Policy(("/logout", "/static/"), {"setup": "/_2fa/setup"})
ON = UserState(enabled=True, epoch=3, recovery_codes_left=7)
OFF = UserState(enabled=False, epoch=2)
ALICE = Identity("alice", "nonce-1", expires_at=NOW + 30 * DAY)


def token() -> TokenRecord:
    return TokenRecord(9, "alice", "ci", "tfa_abc", ("/api",), NOW - 10, NOW + 10 * DAY, None, None)


def kind(decision: object) -> str:
    if isinstance(decision, Pass):
        info = decision.info
        return f"pass {info.user_id} verified={info.verified}" + (" remembered" if decision.remember_until else "")
    if isinstance(decision, Challenge):
        return f"challenge {decision.step}"
    assert isinstance(decision, Refuse)
    return f"refuse {decision.status} {decision.code}"


def required(path: str = "/home", deadline: float | None = None) -> Facts:
    return Facts(path, ALICE, OFF, enrollment_required=True, enroll_by=deadline, now=NOW)


@pytest.mark.parametrize(
    "facts, expected",
    [
        pytest.param(required(deadline=NOW + 3 * DAY), "pass alice verified=True remembered", id="before"),
        pytest.param(required(deadline=NOW + 1), "pass alice verified=True remembered", id="last-second"),
        pytest.param(required(deadline=NOW), "challenge enroll", id="at"),
        pytest.param(required(deadline=NOW - 1), "challenge enroll", id="after"),
        pytest.param(required(deadline=None), "challenge enroll", id="no-grace"),
        pytest.param(required("/logout", NOW - 1), "pass alice verified=True", id="after-exempt-not-remembered"),
        pytest.param(required("/logout", NOW + DAY), "pass alice verified=True remembered", id="before-exempt"),
        pytest.param(Facts("/home", ALICE, ON, enrollment_required=False, enroll_by=NOW + DAY, now=NOW),
                     "challenge verify", id="enrolled-owes-code-as-ever"),
        pytest.param(Facts("/api/x", state=OFF, enrollment_required=True, enroll_by=NOW + DAY, token=token(),
                           now=NOW), "pass alice verified=True", id="token-before"),
        pytest.param(Facts("/api/x", state=OFF, enrollment_required=True, enroll_by=NOW, token=token(), now=NOW),
                     "refuse 403 two_factor_enrollment_required", id="token-at"),
        pytest.param(Facts("/api/x", state=OFF, enrollment_required=True, enroll_by=NOW - DAY, token=token(),
                           now=NOW), "refuse 403 two_factor_enrollment_required", id="token-after"),
        pytest.param(Facts("/api/x", state=ON, enrollment_required=True, enroll_by=NOW - DAY, token=token(),
                           now=NOW), "pass alice verified=True", id="token-after-enrolled"),
    ],
)
def test_decide_with_deadlines(facts: Facts, expected: str) -> None:
    assert kind(decide(facts, POLICY)) == expected


@pytest.mark.parametrize(
    "left, days",
    [(7 * DAY, 7), (6 * DAY + 1, 7), (6 * DAY, 6), (DAY, 1), (1, 1)],
)
def test_the_pass_carries_the_days_left_rounded_up_and_the_deadline(left: float, days: int) -> None:
    decision = decide(required(deadline=NOW + left), POLICY)
    assert isinstance(decision, Pass)
    assert decision.info.enroll_days_left == days
    assert decision.info.enroll_by == datetime.fromtimestamp(NOW + left, UTC)


@pytest.mark.parametrize("left", [7 * DAY, 6 * DAY + 1, DAY + 5, 3600])
def test_a_grace_pass_is_remembered_only_until_its_count_of_days_changes(left: float) -> None:
    decision = decide(required(deadline=NOW + left), POLICY)
    assert isinstance(decision, Pass) and decision.remember_until is not None
    assert decision.remember_until <= NOW + left  # never past the deadline
    just_before = Facts("/home", ALICE, OFF, enrollment_required=True, enroll_by=NOW + left,
                        now=decision.remember_until - 0.001)
    at = Facts("/home", ALICE, OFF, enrollment_required=True, enroll_by=NOW + left, now=decision.remember_until)
    before_info, at_decision = decide(just_before, POLICY), decide(at, POLICY)
    assert isinstance(before_info, Pass) and before_info.info.enroll_days_left == decision.info.enroll_days_left
    if isinstance(at_decision, Pass):
        assert at_decision.info.enroll_days_left == (decision.info.enroll_days_left or 0) - 1
    else:
        assert isinstance(at_decision, Challenge) and decision.info.enroll_days_left == 1


def test_a_grace_pass_ends_with_the_session_when_that_is_first() -> None:
    short = Identity("alice", "nonce-1", expires_at=NOW + 60)
    decision = decide(Facts("/home", short, OFF, enrollment_required=True, enroll_by=NOW + 3 * DAY, now=NOW), POLICY)
    assert isinstance(decision, Pass) and decision.remember_until == NOW + 60


def test_users_with_no_policy_get_no_days_left() -> None:
    decision = decide(Facts("/home", ALICE, OFF, now=NOW), POLICY)
    assert isinstance(decision, Pass) and decision.info.enroll_days_left is None and decision.info.enroll_by is None


# -- how the two settings combine (Settings.enrollment_deadline) --------------------------

WHEN = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "settings, expected",
    [
        pytest.param(Settings(), None, id="default-optional"),
        pytest.param(Settings(require_enrollment=lambda u: True), float("-inf"), id="everyone-now"),
        pytest.param(Settings(require_enrollment=lambda u: False), None, id="nobody"),
        pytest.param(Settings(enroll_by=lambda u: WHEN), WHEN.timestamp(), id="everyone-by-a-date"),
        pytest.param(Settings(enroll_by=lambda u: None), None, id="no-date-optional"),
        pytest.param(Settings(require_enrollment=lambda u: True, enroll_by=lambda u: None), float("-inf"),
                     id="required-without-date-now"),
        pytest.param(Settings(require_enrollment=lambda u: False, enroll_by=lambda u: WHEN), WHEN.timestamp(),
                     id="a-date-makes-it-required"),
        pytest.param(Settings(enroll_by=lambda u: WHEN.astimezone(timezone(timedelta(hours=2)))),
                     WHEN.timestamp(), id="any-aware-zone"),
    ],
)
def test_how_require_enrollment_and_enroll_by_combine(settings: Settings, expected: float | None) -> None:
    assert settings.enrollment_deadline("alice") == expected


@pytest.mark.parametrize("answer", [datetime(2027, 1, 1, tzinfo=UTC).replace(tzinfo=None), "2027-01-01", 1_800_000_000])
def test_enroll_by_must_answer_an_aware_datetime(answer: object) -> None:
    settings = Settings(enroll_by=lambda u: answer)  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="enroll_by must return an aware datetime"):
        settings.enrollment_deadline("alice")


def test_enroll_by_must_be_a_function() -> None:
    with pytest.raises(ValueError, match="enroll_by must be a function or None"):
        Settings(enroll_by=WHEN)  # type: ignore[arg-type]

"""service: every 2FA step against an in-memory store with a clock the test moves."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.unit.helpers import KEY, PASSWORD
from twofa_middleware import totp
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import (
    CodeReused,
    InvalidCode,
    InvalidRequest,
    LastAuthenticator,
    NoSuchAuthenticator,
    NotEnabled,
    SetupExpired,
    Throttled,
    WrongPassword,
)
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

SETTINGS = Settings()


def code(secret: str, now: float, steps_ahead: int = 0) -> str:
    return totp.code_at(secret, int(now) // 30 + steps_ahead, SETTINGS)


def wrong_code(secret: str, now: float) -> str:
    """A six-digit code that matches no step within the drift range."""
    near = {code(secret, now, d) for d in range(-21, 22)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def enroll(service, clock, user="alice") -> tuple[str, list[str]]:
    secret = service.enrollment(user).secret
    codes = service.confirm_enrollment(user, code(secret, clock())).recovery_codes
    return secret, codes


def events(service, user="alice") -> list[str]:
    return [e.event for e in reversed(service.store.events(user))]


def failures(service, user="alice") -> int:
    return service.store.failures(user)


# -- enrollment -----------------------------------------------------------------------


def test_enrollment_shows_same_secret_until_it_expires(service, clock):
    first = service.enrollment("alice")
    assert service.enrollment("alice").secret == first.secret
    clock.advance(SETTINGS.enrollment_seconds + 1)
    assert service.enrollment("alice").secret != first.secret


def test_enrollment_qr_is_an_inline_svg_of_the_otpauth_uri(service):
    e = service.enrollment("alice")
    assert e.qr_data_uri.startswith("data:image/svg+xml")
    assert e.otpauth_uri.startswith("otpauth://totp/Unit:alice?")
    assert e.grouped_secret.replace(" ", "") == e.secret


def test_confirm_enrollment_with_right_code_enables_and_returns_ten_codes(service, clock):
    _, codes = enroll(service, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    state = service.state("alice")
    assert state.enabled and state.recovery_codes_left == 10 and state.epoch == 1
    assert events(service) == ["enabled"]


def test_confirm_enrollment_with_wrong_code_leaves_2fa_off(service, clock):
    secret = service.enrollment("alice").secret
    with pytest.raises(InvalidCode):
        service.confirm_enrollment("alice", wrong_code(secret, clock()))
    assert not service.state("alice").enabled


def test_confirm_enrollment_after_setup_expired_is_refused(service, clock):
    secret = service.enrollment("alice").secret
    clock.advance(SETTINGS.enrollment_seconds + 1)
    with pytest.raises(SetupExpired) as refused:
        service.confirm_enrollment("alice", code(secret, clock()))
    assert (refused.value.status, refused.value.code) == (400, "setup_expired")


# -- several authenticators ------------------------------------------------------------


def add_another(service, clock, name="Work phone") -> str:
    """A second authenticator app, confirmed a step later (the user's last step is spent)."""
    secret = service.enrollment("alice").secret
    assert service.confirm_enrollment("alice", code(secret, clock(), 1), name=name).recovery_codes == []
    return secret


def test_a_second_authenticator_keeps_the_recovery_codes_and_the_epoch(service, clock):
    first, codes = enroll(service, clock)
    epoch = service.state("alice").epoch
    second = add_another(service, clock)
    assert second != first
    assert [(a.kind, a.name) for a in service.authenticators("alice")] == [
        ("totp", "Authenticator app"), ("totp", "Work phone"),
    ]
    state = service.state("alice")
    assert (state.epoch, state.recovery_codes_left, state.kinds) == (epoch, 10, frozenset({"totp"}))
    assert [c.code for c in service.recovery_codes("alice")] == codes
    assert events(service) == ["enabled", "authenticator_added"]


@pytest.mark.parametrize("which", ["first", "second"])
def test_either_authenticator_passes_and_is_stamped(service, clock, which):
    first, _ = enroll(service, clock)
    second = add_another(service, clock)
    clock.advance(60)
    assert service.verify("alice", code(first if which == "first" else second, clock())) == "totp"
    used = [a.last_used_at for a in service.authenticators("alice")]
    assert used == ([clock(), None] if which == "first" else [None, clock()])


def test_a_step_spent_with_one_app_is_spent_for_all(service, clock):
    first, _ = enroll(service, clock)
    second = add_another(service, clock)
    clock.advance(60)
    service.verify("alice", code(first, clock()))
    with pytest.raises(CodeReused):
        service.verify("alice", code(second, clock()))


def test_a_wrong_code_counts_once_however_many_apps(service, clock):
    first, _ = enroll(service, clock)
    add_another(service, clock)
    clock.advance(60)
    with pytest.raises(InvalidCode):
        service.verify("alice", wrong_code(first, clock()))
    assert failures(service) == 1


def test_removing_one_leaves_the_other_working(service, clock):
    first, _ = enroll(service, clock)
    second = add_another(service, clock)
    first_id = service.authenticators("alice")[0].id
    service.remove_authenticator("alice", first_id)
    clock.advance(60)
    with pytest.raises(InvalidCode):
        service.verify("alice", code(first, clock()))
    assert service.verify("alice", code(second, clock())) == "totp"
    assert events(service)[-3:] == ["authenticator_removed", "verify_failed", "verified"]


def test_the_last_authenticator_cannot_be_removed(service, clock):
    enroll(service, clock)
    (only,) = service.authenticators("alice")
    with pytest.raises(LastAuthenticator) as refused:
        service.remove_authenticator("alice", only.id)
    assert (refused.value.status, refused.value.code) == (409, "last_authenticator")
    assert service.state("alice").enabled and len(service.authenticators("alice")) == 1


def test_another_users_authenticator_is_not_found(service, clock):
    enroll(service, clock)
    enroll(service, clock, user="bob")
    add_another(service, clock)
    bobs = service.authenticators("bob")[0].id
    with pytest.raises(NoSuchAuthenticator):
        service.remove_authenticator("alice", bobs)
    with pytest.raises(NoSuchAuthenticator):
        service.rename_authenticator("alice", bobs, "mine now")
    assert [a.name for a in service.authenticators("bob")] == ["Authenticator app"]


@pytest.mark.parametrize(
    "name", [pytest.param("", id="blank"), pytest.param("x" * 101, id="too-long"),
             pytest.param("a\x00b", id="control"), pytest.param(7, id="not-text")],
)
def test_a_bad_name_is_refused_and_changes_nothing(service, clock, name):
    enroll(service, clock)
    (only,) = service.authenticators("alice")
    with pytest.raises(InvalidRequest):
        service.rename_authenticator("alice", only.id, name)
    assert service.authenticators("alice")[0].name == "Authenticator app"


def test_disable_forgets_every_authenticator(service, clock):
    enroll(service, clock)
    add_another(service, clock)
    service.disable("alice")
    assert service.authenticators("alice") == [] and not service.state("alice").enabled


def test_secret_is_stored_encrypted(service, clock):
    secret, _ = enroll(service, clock)
    from twofa_middleware.store.models import Authenticator

    with service.store.engine.connect() as db:  # the table itself: what is at rest
        stored = db.scalar(select(Authenticator.secret).where(Authenticator.user_id == "alice"))
    assert secret not in stored
    assert KeyRing(KEY).decrypt(stored) == secret


# -- verification ---------------------------------------------------------------------


def test_next_code_verifies_then_replay_is_refused(service, clock):
    secret, _ = enroll(service, clock)
    nxt = code(secret, clock(), 1)
    assert service.verify("alice", nxt) == "totp"
    with pytest.raises(CodeReused):
        service.verify("alice", nxt)
    assert events(service)[-2:] == ["verified", "verify_failed"]


def test_the_enrollment_code_cannot_be_replayed_at_sign_in(service, clock):
    secret, _ = enroll(service, clock)
    with pytest.raises(CodeReused):
        service.verify("alice", code(secret, clock()))


def test_code_of_next_step_works_after_time_moves_on(service, clock):
    secret, _ = enroll(service, clock)
    clock.advance(30)
    assert service.verify("alice", code(secret, clock())) == "totp"


def test_recovery_code_works_once_in_any_case(service, clock):
    _, codes = enroll(service, clock)
    typed = codes[0].upper().replace("-", " ")
    assert service.verify("alice", typed) == "recovery"
    assert service.state("alice").recovery_codes_left == 9
    with pytest.raises(InvalidCode, match="already been used"):
        service.verify("alice", codes[0])
    assert "recovery_code_used" in events(service)


def test_five_wrong_codes_lock_even_the_right_code_out(service, clock):
    secret, _ = enroll(service, clock)
    bad = wrong_code(secret, clock())
    for _ in range(4):
        with pytest.raises(InvalidCode):
            service.verify("alice", bad)
    assert service.retry_after("alice") == 0
    with pytest.raises(InvalidCode):
        service.verify("alice", bad)
    assert service.retry_after("alice") == 30
    with pytest.raises(Throttled) as info:
        service.verify("alice", code(secret, clock(), 1))
    assert info.value.retry_after == 30 and info.value.status == 429
    assert "lockout" in events(service)


def test_lock_ends_after_its_time_and_the_next_failure_doubles_it(service, clock):
    secret, _ = enroll(service, clock)
    for _ in range(5):
        with pytest.raises(InvalidCode):
            service.verify("alice", wrong_code(secret, clock()))
    clock.advance(29)
    with pytest.raises(Throttled):
        service.verify("alice", wrong_code(secret, clock()))
    clock.advance(1)
    with pytest.raises(InvalidCode):
        service.verify("alice", wrong_code(secret, clock()))
    assert service.retry_after("alice") == 60


def test_success_resets_the_failure_count(service, clock):
    secret, _ = enroll(service, clock)
    for _ in range(4):
        with pytest.raises(InvalidCode):
            service.verify("alice", wrong_code(secret, clock()))
    service.verify("alice", code(secret, clock(), 1))
    assert failures(service) == 0


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("abcdef", id="letters"),
        pytest.param("1234567", id="seven-digits"),
        pytest.param("9" * 1000, id="1000-chars"),
        pytest.param("１２３４５６", id="full-width-digits"),
        pytest.param(None, id="missing"),
    ],
)
def test_malformed_input_is_refused_without_counting_a_failure(service, clock, raw):
    enroll(service, clock)
    with pytest.raises(InvalidRequest):
        service.verify("alice", raw)
    assert failures(service) == 0
    assert events(service) == ["enabled"]


def test_verify_for_user_without_2fa_is_not_enabled(service):
    with pytest.raises(NotEnabled):
        service.verify("nobody", "123456")


# -- recovery codes, disable, password ---------------------------------------------------


def test_regenerated_codes_replace_old_ones_at_once(service, clock):
    _, old = enroll(service, clock)
    new = service.regenerate_recovery_codes("alice")
    assert not set(new) & set(old)
    with pytest.raises(InvalidCode):
        service.verify("alice", old[1])
    assert service.verify("alice", new[1]) == "recovery"
    views = service.recovery_codes("alice")
    assert [v.code for v in views] == new
    assert [v.used for v in views] == [False, True] + [False] * 8


def test_disable_turns_2fa_off_and_bumps_epoch(service, clock):
    secret, _ = enroll(service, clock)
    service.disable("alice")
    state = service.state("alice")
    assert not state.enabled and state.epoch == 2
    with pytest.raises(NotEnabled):
        service.verify("alice", code(secret, clock(), 1))
    with pytest.raises(NotEnabled):
        service.disable("alice")
    assert events(service) == ["enabled", "disabled"]


@pytest.mark.parametrize(
    "password, error",
    [
        pytest.param("wrong", WrongPassword, id="wrong"),
        pytest.param("", InvalidRequest, id="empty"),
        pytest.param(None, InvalidRequest, id="missing"),
        pytest.param("x" * 1025, InvalidRequest, id="too-long"),
    ],
)
def test_confirm_password_refuses(service, password, error):
    with pytest.raises(error):
        service.confirm_password("alice", password)


def test_confirm_password_accepts_the_right_one(service):
    service.confirm_password("alice", PASSWORD)


def test_notify_hook_hears_events_and_its_failure_does_not_break_the_step(clock):
    heard: list[tuple[str, str]] = []

    def notify(user_id: str, event: str) -> None:
        heard.append((user_id, event))
        raise RuntimeError("mail server down")

    store = SQLAlchemyStore("sqlite://")
    try:
        service = TwoFactorService(Settings(), KeyRing(KEY), store, lambda u, p: True, notify, clock)
        enroll(service, clock)
        service.disable("alice")
    finally:
        store.dispose()
    assert heard == [("alice", "enabled"), ("alice", "disabled")]

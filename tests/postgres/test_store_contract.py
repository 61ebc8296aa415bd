"""The store contract: what every store must do, run on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from twofa_middleware.errors import (
    AlreadyEnabled,
    CodeReused,
    InvalidCode,
    InvalidSecurityKey,
    LastAuthenticator,
    NotEnabled,
    SetupExpired,
    Throttled,
)
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import DISABLED, NewAuthenticator

NOW = 1_700_000_015.25
CODES = [("hash-a", "enc-a"), ("hash-b", "enc-b"), ("hash-c", "enc-c")]


def lock_after_three(failures: int) -> int:
    return 0 if failures < 3 else 60


def accept(step: int):
    return lambda row: step


def refuse(exc: Exception):
    def check(row):
        raise exc

    return check


@pytest.fixture
def enabled(store: SQLAlchemyStore) -> SQLAlchemyStore:
    store.set_pending_secret("alice", "enc-secret", NOW)
    store.enable("alice", "enc-secret", 100, CODES, NOW)
    return store


def failures_of(store: SQLAlchemyStore, user_id: str) -> int:
    return store.failures(user_id)


def test_unknown_user_has_2fa_off(store):
    assert store.user_state("nobody") == DISABLED


def test_pending_secret_is_kept_until_it_expires(store):
    store.set_pending_secret("alice", "enc-1", NOW)
    assert store.pending_secret("alice", not_before=NOW - 900) == "enc-1"
    assert store.pending_secret("alice", not_before=NOW + 1) is None
    store.set_pending_secret("alice", "enc-2", NOW + 5)
    assert store.pending_secret("alice", not_before=NOW) == "enc-2"


def test_enable_stores_secret_codes_and_bumps_epoch(enabled):
    state = enabled.user_state("alice")
    assert state.enabled and state.epoch == 1 and state.recovery_codes_left == 3
    assert state.locked_until is None
    assert enabled.recovery_codes("alice") == [("enc-a", False), ("enc-b", False), ("enc-c", False)]
    assert enabled.pending_secret("alice", 0) is None


def test_enable_twice_is_refused(enabled):
    with pytest.raises(AlreadyEnabled):
        enabled.enable("alice", "other", 1, CODES, NOW)


def test_attempt_passes_the_locked_row_and_records_the_step(enabled):
    seen = {}

    def check(row):
        seen.update(user_id=row.user_id, secrets=[f.secret for f in row.factors], last_step=row.last_step)
        return 101

    result = enabled.attempt("alice", NOW, check, lock_after_three)
    assert seen == {"user_id": "alice", "secrets": ["enc-secret"], "last_step": 100}
    assert result.failures == 0 and result.locked_until is None
    enabled.attempt("alice", NOW, lambda row: seen.update(last_step=row.last_step) or 101, lock_after_three)
    assert seen["last_step"] == 101


def test_attempt_on_user_without_2fa_raises_not_enabled(store):
    with pytest.raises(NotEnabled):
        store.attempt("nobody", NOW, accept(1), lock_after_three)


@pytest.mark.parametrize("refusal", [InvalidCode(), CodeReused()], ids=["invalid", "reused"])
def test_refused_attempts_count_then_lock(enabled, refusal):
    for expected in (1, 2):
        with pytest.raises(type(refusal)) as info:
            enabled.attempt("alice", NOW, refuse(refusal), lock_after_three)
        assert info.value.attempt.failures == expected and info.value.attempt.locked_until is None
    with pytest.raises(type(refusal)) as info:
        enabled.attempt("alice", NOW, refuse(refusal), lock_after_three)
    assert info.value.attempt.failures == 3
    assert info.value.attempt.locked_until == pytest.approx(NOW + 60, abs=1e-3)
    assert enabled.user_state("alice").locked_until == pytest.approx(NOW + 60, abs=1e-3)


def test_locked_user_is_refused_without_running_the_check_or_counting(enabled):
    for _ in range(3):
        with pytest.raises(InvalidCode):
            enabled.attempt("alice", NOW, refuse(InvalidCode()), lock_after_three)
    ran = []
    with pytest.raises(Throttled) as info:
        enabled.attempt("alice", NOW + 10, lambda row: ran.append(1) or 101, lock_after_three)
    assert info.value.retry_after == 50
    assert ran == [] and failures_of(enabled, "alice") == 3
    # Once the lock has run out, a good code resets the count.
    assert enabled.attempt("alice", NOW + 61, accept(101), lock_after_three).failures == 0
    assert enabled.user_state("alice").locked_until is None


def test_recovery_code_is_consumed_once(enabled):
    def spend(row):
        if row.consume_recovery_code(["nope", "hash-b"], NOW):
            return row.last_step
        raise InvalidCode()

    enabled.attempt("alice", NOW, spend, lock_after_three)
    assert enabled.user_state("alice").recovery_codes_left == 2
    assert ("enc-b", True) in enabled.recovery_codes("alice")
    with pytest.raises(InvalidCode):
        enabled.attempt("alice", NOW, spend, lock_after_three)


def test_recovery_code_of_another_user_is_not_consumed(enabled):
    enabled.set_pending_secret("bob", "s", NOW)
    enabled.enable("bob", "s", 1, [("hash-bob", "enc-bob")], NOW)

    def spend(row):
        if row.consume_recovery_code(["hash-bob"], NOW):
            return row.last_step
        raise InvalidCode()

    with pytest.raises(InvalidCode):
        enabled.attempt("alice", NOW, spend, lock_after_three)
    assert enabled.user_state("bob").recovery_codes_left == 1


def test_replacing_codes_drops_the_old_ones(enabled):
    enabled.replace_recovery_codes("alice", [("hash-x", "enc-x")], NOW)
    assert enabled.recovery_codes("alice") == [("enc-x", False)]

    def spend_old(row):
        if row.consume_recovery_code(["hash-a"], NOW):
            return row.last_step
        raise InvalidCode()

    with pytest.raises(InvalidCode):
        enabled.attempt("alice", NOW, spend_old, lock_after_three)


def test_replacing_codes_needs_2fa_on(store):
    with pytest.raises(NotEnabled):
        store.replace_recovery_codes("nobody", CODES, NOW)


def test_disable_forgets_secret_and_codes_and_bumps_epoch(enabled):
    assert enabled.disable("alice", NOW) is True
    state = enabled.user_state("alice")
    assert not state.enabled and state.epoch == 2
    assert enabled.recovery_codes("alice") == []
    assert enabled.disable("alice", NOW) is False


def test_reenabling_after_disable_starts_a_new_epoch(enabled):
    enabled.disable("alice", NOW)
    enabled.set_pending_secret("alice", "enc-new", NOW)
    enabled.enable("alice", "enc-new", 5, CODES[:1], NOW)
    state = enabled.user_state("alice")
    assert state.enabled and state.epoch == 3 and state.recovery_codes_left == 1


def test_security_log_newest_first_and_per_user(store):
    store.log("alice", "enabled", "", "127.0.0.1", NOW)
    store.log("bob", "verify_failed", "totp: invalid_code", None, NOW + 1)
    store.log("alice", "disabled", "x" * 300, None, NOW + 2)
    assert [e.event for e in store.events()] == ["disabled", "verify_failed", "enabled"]
    alice = store.events("alice")
    assert [e.event for e in alice] == ["disabled", "enabled"]
    assert len(alice[0].detail) == 255
    assert alice[1].remote_addr == "127.0.0.1"
    assert alice[1].created_at == pytest.approx(NOW, abs=1e-3)
    assert len(store.events(limit=1)) == 1


def test_tokens_add_find_touch_revoke(store):
    token_id = store.add_token("alice", "ci", "tfa_abcd", "h" * 64, ("/api",), NOW + 86400, NOW)
    other = store.add_token("bob", "x", "tfa_efgh", "g" * 64, (), None, NOW)
    record = store.token_by_hash("h" * 64)
    assert record.id == token_id and record.user_id == "alice" and record.paths == ("/api",)
    assert record.expires_at == pytest.approx(NOW + 86400, abs=1e-3) and record.last_used_at is None
    store.touch_token(token_id, NOW + 5)
    assert store.token_by_hash("h" * 64).last_used_at == pytest.approx(NOW + 5, abs=1e-3)
    assert [t.id for t in store.tokens("alice")] == [token_id]
    assert store.revoke_token(other, "alice", NOW) is None  # not alice's
    revoked = store.revoke_token(token_id, "alice", NOW + 6)
    assert revoked is not None and revoked.revoked_at == pytest.approx(NOW + 6, abs=1e-3)
    assert store.revoke_token(token_id, None, NOW + 7) is None  # already revoked
    assert store.tokens("alice") == []
    assert store.token_by_hash("missing") is None


def test_token_hashes_are_unique(store):
    from twofa_middleware.errors import StoreUnavailable

    store.add_token("alice", "a", "tfa_a", "h" * 64, (), None, NOW)
    with pytest.raises(StoreUnavailable):
        store.add_token("bob", "b", "tfa_b", "h" * 64, (), None, NOW)


def test_state_written_by_one_instance_is_read_by_another(enabled, make_store):
    other = make_store()
    assert other.user_state("alice").enabled
    other.disable("alice", NOW)
    assert not enabled.user_state("alice").enabled


# -- authenticators as a list --------------------------------------------------------------

KEY = NewAuthenticator("webauthn", "YubiKey", credential_id="cred-1", public_key="pk-1", sign_count=3,
                       transports=("usb", "nfc"))


def test_the_first_authenticator_turns_2fa_on_and_a_later_one_joins(store):
    first_id, first, revoked = store.add_authenticator("alice", KEY, 0, CODES, NOW)
    assert first is True and revoked == 0
    state = store.user_state("alice")
    assert state.enabled and state.epoch == 1 and state.recovery_codes_left == 3
    assert state.kinds == frozenset({"webauthn"})
    store.set_pending_secret("alice", "enc-2", NOW)
    second_id, first, _ = store.add_authenticator(
        "alice", NewAuthenticator("totp", "Phone", secret="enc-2"), 120, [("hash-z", "enc-z")], NOW + 1
    )
    assert first is False and second_id != first_id
    state = store.user_state("alice")
    assert state.epoch == 1 and state.recovery_codes_left == 3  # the later one's codes are not used
    assert state.kinds == frozenset({"webauthn", "totp"})
    assert store.pending_secret("alice", 0) is None  # the setup is spent
    listed = store.authenticators("alice")
    assert [(a.id, a.kind, a.name) for a in listed] == [(first_id, "webauthn", "YubiKey"), (second_id, "totp", "Phone")]
    assert (listed[0].credential_id, listed[0].public_key, listed[0].sign_count) == ("cred-1", "pk-1", 3)
    assert listed[0].transports == ("usb", "nfc")
    assert not hasattr(listed[1], "secret")  # records never carry the TOTP secret


def test_a_credential_id_is_stored_once(store):
    store.add_authenticator("alice", KEY, 0, CODES, NOW)
    from twofa_middleware.errors import StoreUnavailable

    with pytest.raises(StoreUnavailable):  # the unique constraint: one key, one user
        store.add_authenticator("bob", KEY, 0, CODES, NOW)
    assert store.authenticators("bob") == []


def test_the_factor_that_passed_is_stamped_with_its_counter(store):
    key_id = store.add_authenticator("alice", KEY, 0, CODES, NOW).id

    def check(row):
        (factor,) = row.factors
        assert (factor.id, factor.credential_id, factor.sign_count) == (key_id, "cred-1", 3)
        row.used(factor.id, NOW + 9, sign_count=4)
        return row.last_step

    store.attempt("alice", NOW + 9, check, lock_after_three)
    (record,) = store.authenticators("alice")
    assert record.sign_count == 4 and record.last_used_at == pytest.approx(NOW + 9, abs=1e-3)


def test_rename_and_remove_are_the_users_own(enabled):
    (phone,) = enabled.authenticators("alice")
    key_id = enabled.add_authenticator("alice", KEY, 0, CODES, NOW).id
    assert enabled.rename_authenticator("bob", phone.id, "mine") is False
    assert enabled.rename_authenticator("alice", phone.id, "Old phone") is True
    assert enabled.remove_authenticator("bob", key_id) is False
    assert enabled.remove_authenticator("alice", 999_999) is False
    epoch = enabled.user_state("alice").epoch
    assert enabled.remove_authenticator("alice", key_id) is True
    assert [a.name for a in enabled.authenticators("alice")] == ["Old phone"]
    # Sign-ins verified before (with the removed factor, perhaps) end.
    assert enabled.user_state("alice").epoch == epoch + 1


def test_the_last_authenticator_is_never_removed(enabled):
    (phone,) = enabled.authenticators("alice")
    with pytest.raises(LastAuthenticator):
        enabled.remove_authenticator("alice", phone.id)
    assert enabled.user_state("alice").enabled


def test_disable_forgets_every_authenticator(enabled):
    enabled.add_authenticator("alice", KEY, 0, CODES, NOW)
    enabled.disable("alice", NOW)
    assert enabled.authenticators("alice") == []
    # The key's credential id is free again once its user dropped it.
    enabled.add_authenticator("bob", KEY, 0, CODES, NOW)
    assert [a.name for a in enabled.authenticators("bob")] == ["YubiKey"]


def test_confirming_a_setup_sees_only_the_pending_secret(enabled):
    enabled.set_pending_secret("alice", "enc-pending", NOW)
    seen = []
    enabled.attempt_enrollment("alice", NOW, lambda row: seen.extend(f.secret for f in row.factors) or 101,
                               lock_after_three, started_after=NOW - 1)
    assert seen == ["enc-pending"]
    with pytest.raises(SetupExpired):
        enabled.attempt_enrollment("alice", NOW, accept(102), lock_after_three, started_after=NOW + 1)


# -- trusted browsers ----------------------------------------------------------------------------


def trust(store: SQLAlchemyStore, user_id: str = "alice", expires_at: float = NOW + 86400) -> int:
    return store.add_trusted_browser(user_id, "f" * 64, "Firefox on Linux", "192.0.2.1", 1, expires_at, NOW)


def test_a_trusted_browser_is_stored_with_its_hash_label_ip_epoch_and_times(store):
    browser_id = trust(store)
    record = store.trusted_browser(browser_id)
    assert record is not None
    assert (record.user_id, record.secret_hash, record.label, record.ip, record.epoch) == (
        "alice", "f" * 64, "Firefox on Linux", "192.0.2.1", 1)
    assert record.created_at == NOW and record.last_used_at == NOW and record.expires_at == NOW + 86400
    assert record.revoked_at is None
    assert store.trusted_browser(browser_id + 1000) is None


def test_trusted_browsers_lists_only_the_users_live_ones(store):
    live = trust(store)
    trust(store, expires_at=NOW - 1)
    trust(store, "bob")
    revoked = trust(store)
    assert store.revoke_trusted_browsers("alice", revoked, NOW) == 1
    assert [b.id for b in store.trusted_browsers("alice", NOW)] == [live]


def test_touching_a_trusted_browser_stamps_last_use_and_ip(store):
    browser_id = trust(store)
    store.touch_trusted_browser(browser_id, "198.51.100.7", NOW + 60)
    record = store.trusted_browser(browser_id)
    assert record is not None and record.last_used_at == NOW + 60 and record.ip == "198.51.100.7"


def test_revoking_counts_only_the_users_live_browsers_and_never_another_users(store):
    a1, a2, b1 = trust(store), trust(store), trust(store, "bob")
    assert store.revoke_trusted_browsers("alice", b1, NOW) == 0  # bob's: not alice's to revoke
    assert store.revoke_trusted_browsers("alice", a1, NOW + 1) == 1
    assert store.revoke_trusted_browsers("alice", a1, NOW + 2) == 0  # once
    assert store.revoke_trusted_browsers("alice", None, NOW + 3) == 1  # a2 only
    record = store.trusted_browser(a1)
    assert record is not None and record.revoked_at == NOW + 1
    assert store.trusted_browser(a2).revoked_at == NOW + 3  # type: ignore[union-attr]
    assert store.trusted_browser(b1).revoked_at is None  # type: ignore[union-attr]


def test_a_setups_factor_is_stored_only_while_its_secret_is_still_pending(enabled):
    phone = NewAuthenticator("totp", "Tablet", secret="enc-2")
    with pytest.raises(SetupExpired):  # no setup under way
        enabled.add_authenticator("alice", phone, 120, CODES, NOW, pending="enc-2")
    enabled.set_pending_secret("alice", "enc-3", NOW)
    with pytest.raises(SetupExpired):  # another setup under way
        enabled.add_authenticator("alice", phone, 120, CODES, NOW, pending="enc-2")
    assert len(enabled.authenticators("alice")) == 1
    enabled.set_pending_secret("alice", "enc-2", NOW)
    enabled.add_authenticator("alice", phone, 120, CODES, NOW, pending="enc-2")
    with pytest.raises(SetupExpired):  # spent
        enabled.add_authenticator("alice", phone, 120, CODES, NOW, pending="enc-2")
    assert [a.name for a in enabled.authenticators("alice")] == ["Authenticator app", "Tablet"]


def test_the_last_step_is_raised_never_lowered(enabled):
    enabled.raise_last_step("alice", 150)
    with pytest.raises(CodeReused):
        enabled.attempt("alice", NOW, lambda row: _reused(row, 150), lock_after_three)
    enabled.raise_last_step("alice", 120)
    with pytest.raises(CodeReused):  # still 150
        enabled.attempt("alice", NOW, lambda row: _reused(row, 140), lock_after_three)
    enabled.attempt("alice", NOW, lambda row: _reused(row, 151), lock_after_three)
    enabled.raise_last_step("nobody", 10)  # no row: nothing
    assert enabled.user_state("nobody") == DISABLED


def _reused(row, step: int) -> int:
    """A check that refuses ``step`` when it is not later than the row's last step, as TOTP does."""
    if step <= row.last_step:
        raise CodeReused()
    return step


# -- security-key ceremonies --------------------------------------------------------


def test_a_ceremony_state_is_taken_once(store):
    store.begin_challenge("alice", "state-1", NOW + 300)
    store.begin_challenge("alice", "state-2", NOW + 300)  # a new begin replaces the last one
    assert store.take_challenge("alice", NOW) == "state-2"
    assert store.take_challenge("alice", NOW) is None
    assert store.take_challenge("nobody", NOW) is None


def test_an_expired_ceremony_state_is_never_given_back(store):
    store.begin_challenge("alice", "state", NOW + 300)
    assert store.take_challenge("alice", NOW + 300) is None


def test_a_refused_check_still_spends_the_ceremony_and_counts(store):
    key = NewAuthenticator("webauthn", "Key", credential_id="Y3JlZA", public_key="cGs", sign_count=0)
    store.add_authenticator("alice", key, 0, CODES, NOW)
    store.begin_challenge("alice", "state", NOW + 300)
    taken: list[str | None] = []

    def check(row):
        taken.append(row.take_challenge(NOW))
        raise InvalidSecurityKey("not_verified")

    with pytest.raises(InvalidSecurityKey):
        store.attempt("alice", NOW, check, lock_after_three)
    assert taken == ["state"]
    assert store.take_challenge("alice", NOW) is None
    assert failures_of(store, "alice") == 1


def test_a_credential_id_is_known_across_accounts(store):
    assert not store.credential_registered("Y3JlZA")
    key = NewAuthenticator("webauthn", "Key", credential_id="Y3JlZA", public_key="cGs")
    store.add_authenticator("alice", key, 0, CODES, NOW)
    assert store.credential_registered("Y3JlZA")

"""The attacker's review of authenticators as a list, enforcement and import: each
finding as the answer a user (or the thief) now sees, over the real server."""

from __future__ import annotations

import base64
import time

import pyotp
import pytest

from tests.helpers import SECRET_KEY
from tests.integration import flows
from tests.integration.api_support import ApiClient, Authenticator, use_clock
from twofa_middleware import importing
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import CodeReused, SetupExpired
from twofa_middleware.service import Added, TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock


@pytest.fixture
def clock(live_app) -> FixedClock:
    return use_clock(live_app)


def _owner_with_two_apps(live_app, clock: FixedClock) -> tuple[ApiClient, Authenticator, Authenticator, int]:
    """alice, verified, with a phone and a tablet (the tablet's id returned)."""
    owner = ApiClient(live_app.url)
    owner.register("alice")
    phone, _ = owner.enable(clock)
    owner.sudo()
    tablet = Authenticator(owner.post("/enroll").json()["secret"], clock)
    tablet.last_step = phone.last_step
    assert owner.post("/enroll/confirm", {"code": tablet.code(), "name": "Tablet"}).status_code == 200
    phone.last_step = tablet.last_step
    (_, listed) = owner.get("/authenticators").json()["authenticators"]
    return owner, phone, tablet, listed["id"]


def test_removing_a_stolen_authenticator_ends_the_sign_ins_it_verified(live_app, clock):
    """The thief holds alice's tablet and password and passed the second factor with
    it. Removing the tablet must end the thief's sign-in, as disabling 2FA would;
    it did not: the thief's verified cookie kept working for verified_max_age (12 h)."""
    owner, phone, tablet, tablet_id = _owner_with_two_apps(live_app, clock)
    thief = ApiClient(live_app.url)
    thief.login("alice")
    assert thief.verify(tablet.code()).status_code == 200
    assert thief.me().status_code == 200

    owner.sudo()
    r = owner.api("DELETE", f"/authenticators/{tablet_id}")
    assert r.status_code == 200, r.text

    r = thief.me()
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")
    phone.last_step = tablet.last_step
    assert thief.verify(tablet.code()).json()["error"] == "invalid_code"
    # The owner's own sign-in, which removed it, stays verified.
    assert owner.me().json() == {"user": "alice"}
    assert owner.get("/status").json()["verified"] is True


def test_removing_an_authenticator_on_the_page_ends_other_sign_ins_but_not_this_one(live_app, clock):
    owner, _phone, tablet, tablet_id = _owner_with_two_apps(live_app, clock)
    thief = ApiClient(live_app.url)
    thief.login("alice")
    assert thief.verify(tablet.code()).status_code == 200

    page = owner.request("GET", f"/_2fa/authenticators/{tablet_id}/remove", headers={"Accept": "text/html"})
    assert page.status_code == 200
    # The password was confirmed a moment ago (adding the tablet): confirm, and it is gone.
    r = owner.request("POST", f"/_2fa/authenticators/{tablet_id}/remove", data=flows.form_fields(page.text))
    assert r.status_code == 303, r.text

    assert thief.me().status_code == 401
    assert owner.me().json() == {"user": "alice"}
    assert [a["name"] for a in owner.get("/authenticators").json()["authenticators"]] == ["Authenticator app"]


# -- twofa import: the old system's last step stays the replay guard ----------------------

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _import_service(tmp_path, clock: FixedClock) -> TwoFactorService:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/import.db")
    return TwoFactorService(Settings(cache_seconds=0), KeyRing(SECRET_KEY), store, lambda u, p: False, clock=clock)


def test_importing_again_carries_the_old_systems_newer_last_step(tmp_path):
    """The README: running the import twice is safe, and ``last_t`` is the replay guard.
    Run again during the move (the old site still up), the code alice just spent there
    was accepted here once more: "already imported" kept the first run's last step."""
    clock = FixedClock(float(int(time.time()) // 30 * 30 + 15))
    service = _import_service(tmp_path, clock)
    try:
        step = int(clock()) // 30
        assert service.import_totp("alice", SECRET, "phone", last_step=step - 100) == "imported"
        # alice signs in on the old site with this step's code; the import runs again.
        assert service.import_totp("alice", SECRET, "phone", last_step=step) == "already imported"
        with pytest.raises(CodeReused):
            service.verify("alice", pyotp.TOTP(SECRET).at(clock()))
        assert service.verify("alice", pyotp.TOTP(SECRET).at(clock() + 30)) == "totp"
        # An older last step never moves the guard back.
        assert service.import_totp("alice", SECRET, "phone", last_step=step - 50) == "already imported"
        with pytest.raises(CodeReused):
            service.verify("alice", pyotp.TOTP(SECRET).at(clock() + 30))
    finally:
        service.store.dispose()


def test_a_django_otp_key_on_two_devices_keeps_the_later_last_step():
    """Two confirmed devices of one user with one key are one authenticator; the
    duplicate's ``last_t`` was dropped, so a code spent on it could be replayed."""
    key = base64.b32decode(SECRET).hex()
    row = {"name": "phone", "user_id": 42, "key": key, "step": 30, "t0": 0, "digits": 6}
    outcomes = importing.read_django_otp(
        [{**row, "id": 1, "last_t": 100}, {**row, "id": 2, "last_t": 250}, {**row, "id": 3, "last_t": 200}],
        Settings(),
    )
    accepted = [o for o in outcomes if isinstance(o, importing.Accepted)]
    assert [(o.where, o.last_step) for o in accepted] == [("device 1", 250)]
    assert [o.reason for o in outcomes if isinstance(o, importing.Refusal)] == ["duplicate of device 1"] * 2


# -- one setup code, two confirmations ---------------------------------------------------


def test_one_setup_code_confirmed_twice_at_once_adds_one_authenticator(tmp_path):
    """Each code works once. Two confirmations of one setup racing (a double click,
    a retried request) both passed the code check, which leaves the pending secret in
    place, and each stored an authenticator: the same secret twice, and "enabled" twice."""
    clock = FixedClock(float(int(time.time()) // 30 * 30 + 15))
    service = _import_service(tmp_path, clock)
    store = service.store
    add = store.add_authenticator
    results: list[object] = []

    def racing_add(*args, **kwargs):  # the other request's whole confirmation runs in between
        if not results:
            results.append(None)
            try:
                results.append(service.confirm_enrollment("alice", code))
            except SetupExpired as exc:
                results.append(exc)
        return add(*args, **kwargs)

    try:
        secret = service.enrollment("alice").secret
        code = pyotp.TOTP(secret).at(clock())
        store.add_authenticator = racing_add  # type: ignore[method-assign]
        with pytest.raises(SetupExpired):  # the setup was spent by the other one
            service.confirm_enrollment("alice", code)
        assert isinstance(results[1], Added) and len(results[1].recovery_codes) == 10  # the winner's codes
        assert len(service.authenticators("alice")) == 1
        assert [e.event for e in store.events("alice")].count("enabled") == 1
    finally:
        store.dispose()


# -- bad input to the new calls: a clear 4xx, nothing stored -------------------------------


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        pytest.param("POST", "/enroll/confirm", {"code": "123456", "name": 5}, 400, id="name-not-text"),
        pytest.param("POST", "/enroll/confirm", {"code": "123456", "name": "a\u202eb"}, 400, id="name-bidi-control"),
        pytest.param("POST", "/enroll/confirm", {"code": "123456", "name": "\ufb2c" * 40}, 400, id="name-grows-nfc"),
        pytest.param("POST", "/enroll/confirm", {"code": 123456}, 400, id="code-not-text"),
        pytest.param("POST", "/enroll/confirm", {"code": "123456", "secret": "x"}, 422, id="unknown-field"),
        pytest.param("PATCH", "/authenticators/{id}", {"name": None}, 400, id="rename-null"),
        pytest.param("PATCH", "/authenticators/{id}", {"name": "\ud800"}, 400, id="rename-lone-surrogate"),
        pytest.param("PATCH", "/authenticators/{id}", [], 400, id="rename-not-an-object"),
        pytest.param("PATCH", "/authenticators/9223372036854775808", {"name": "x"}, 404, id="rename-id-too-big"),
        pytest.param("PATCH", "/authenticators/0", {"name": "x"}, 404, id="rename-id-zero"),
    ],
)
def test_bad_input_to_the_authenticator_calls_is_a_4xx_that_stores_and_counts_nothing(
    live_app, clock, method, path, body, status
):
    owner, _, _, tablet_id = _owner_with_two_apps(live_app, clock)
    owner.sudo()
    owner.post("/enroll")  # a setup under way: a refused confirmation must not spend it
    store = live_app.middleware.service.store
    before = (store.authenticators("alice"), store.failures("alice"), store.pending_secret("alice", 0))
    r = owner.request(method, "/_2fa/api" + path.format(id=tablet_id), json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] in ("invalid_request", "not_found")
    assert (store.authenticators("alice"), store.failures("alice"), store.pending_secret("alice", 0)) == before

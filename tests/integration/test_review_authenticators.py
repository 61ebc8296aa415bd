"""The attacker's review of authenticators as a list, enforcement and import: each
finding as the answer a user (or the thief) now sees, over the real server."""

from __future__ import annotations

import pytest

from tests.integration import flows
from tests.integration.api_support import ApiClient, Authenticator, use_clock
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

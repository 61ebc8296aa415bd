"""Required enrollment with a grace period, over real HTTP against the Flask example (#14).

The example counts the deadline from each user's registration
(``TWOFA_ENROLL_WITHIN_DAYS``); a user registered long enough ago is past it,
so no test moves a clock or patches anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from tests.helpers import LiveApp, live_example
from twofa_middleware.proxy import ForwardAuth

from .flows import PASSWORD, confirm_password, form_fields, href_of, manual_key_of, now_code, register, sign_in

DAY = 86400


@pytest.fixture
def enforced(tmp_path: Path) -> Iterator[LiveApp]:
    """The example with "set up 2FA within 7 days of registering"."""
    with live_example(tmp_path, WTF_CSRF_ENABLED=False, TWOFA_ENROLL_WITHIN_DAYS=7) as live:
        yield live


def overdue(live: LiveApp, name: str = "olga"):  # type: ignore[no-untyped-def]
    """A user who registered 8 days ago, signed in now."""
    assert live.app.extensions["example_users"].create(name, PASSWORD, created_at=time.time() - 8 * DAY)
    s = live.session()
    assert sign_in(live, s, name).headers["Location"] == "/settings"
    return s


def cookie_of(s) -> str:  # type: ignore[no-untyped-def]
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


def test_a_user_in_the_grace_period_reaches_the_app_and_sees_the_days_left(enforced):
    s = register(enforced, "gina")
    page = s.get(enforced.url + "/settings")
    assert page.status_code == 200
    assert "Set up two-factor authentication within 7 days." in page.text
    assert href_of(page.text, "Set up now") == "/_2fa/setup?next=/settings"
    home = s.get(enforced.url + "/")
    assert home.status_code == 200 and "within 7 days" in home.text
    assert s.get(enforced.url + "/api/me", headers={"Accept": "application/json"}).json() == {"user": "gina"}


def test_a_user_six_and_a_half_days_in_has_one_day_left(enforced):
    enforced.app.extensions["example_users"].create("dana", PASSWORD, created_at=time.time() - 6.5 * DAY)
    s = enforced.session()
    sign_in(enforced, s, "dana")
    assert "Set up two-factor authentication within 1 day." in s.get(enforced.url + "/settings").text


def test_without_the_setting_nobody_is_told_to_enroll(live_app):
    s = register(live_app, "free")
    page = s.get(live_app.url + "/settings")
    assert page.status_code == 200 and "Set up two-factor authentication within" not in page.text


def test_a_user_past_the_deadline_must_set_up_before_anything_but_exempt_paths(enforced):
    s = overdue(enforced)
    for path in ("/settings", "/"):
        r = s.get(enforced.url + path, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == f"/_2fa/setup?next={path}", path
    api = s.get(enforced.url + "/api/me", headers={"Accept": "application/json"})
    assert api.status_code == 403 and api.json()["error"] == "two_factor_enrollment_required"
    assert api.json()["setup_url"] == "/_2fa/setup"
    assert s.get(enforced.url + "/static/app.css").status_code == 200  # exempt
    # The setup page asks for the password first, then shows the key.
    setup = s.get(enforced.url + "/_2fa/setup?next=/settings")
    assert "Confirm your password" in setup.text
    setup = confirm_password(enforced, s, setup)
    key = manual_key_of(setup.text)
    codes = s.post(enforced.url + "/_2fa/setup", data={**form_fields(setup.text, "/_2fa/setup"), "code": now_code(key)})
    assert codes.status_code == 200
    done = s.post(enforced.url + "/_2fa/setup/recovery-codes",
                  data={**form_fields(codes.text, "/_2fa/setup/recovery-codes"), "saved": "on"})
    assert done.url == enforced.url + "/settings"
    assert "Two-factor authentication is enabled." in done.text and "within" not in done.text
    assert s.post(enforced.url + "/logout").url == enforced.url + "/login"  # exempt, and it works


def test_a_past_deadline_users_token_is_refused_and_a_grace_users_is_not(enforced):
    overdue(enforced, "olga")
    register(enforced, "gina")
    tokens = enforced.middleware.service.tokens
    _, olgas = tokens.create_token("olga", "script", 30, None)
    _, ginas = tokens.create_token("gina", "script", 30, None)
    s = enforced.session()
    r = s.get(enforced.url + "/api/me", headers={"Authorization": f"Bearer {olgas}", "Accept": "application/json"})
    assert r.status_code == 403 and r.json()["error"] == "two_factor_enrollment_required"
    r = s.get(enforced.url + "/api/me", headers={"Authorization": f"Bearer {ginas}", "Accept": "application/json"})
    assert r.status_code == 200 and r.json() == {"user": "gina"}


def test_forward_auth_gives_the_same_answers(enforced):
    auth = Client(ForwardAuth(enforced.middleware), use_cookies=False)

    def ask(s, uri: str = "/settings"):  # type: ignore[no-untyped-def]
        return auth.get("/_twofa_auth", headers={"X-Original-URI": uri, "Cookie": cookie_of(s)})

    grace = ask(register(enforced, "gina"))
    assert grace.status_code == 200 and grace.headers["X-Twofa-User"] == "gina"
    late = ask(overdue(enforced))
    assert late.status_code == 401 and late.headers["X-Twofa-Verify-Url"] == "/_2fa/setup?next=/settings"
    assert late.json["error"] == "two_factor_enrollment_required"
    olga = enforced.session()
    sign_in(enforced, olga, "olga")
    assert ask(olga, "/logout").status_code == 200  # exempt

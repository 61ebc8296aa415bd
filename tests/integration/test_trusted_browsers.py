"""Trusted browsers ("Remember this browser") on the Flask example over real HTTP: the example
turns it on for 30 days (TWOFA_REMEMBER_DAYS)."""

from __future__ import annotations

import re

from .flows import (
    PASSWORD,
    confirm_password,
    enroll,
    enrolled_user,
    form_action,
    form_fields,
    is_challenged,
    next_code,
    register,
    sign_in,
    sign_out,
    signed_in_again,
)


def verify_remembered(live, s, code: str):
    page = s.get(live.url + "/_2fa/verify", params={"next": "/settings"})
    assert "Remember this browser for 30 days" in page.text
    r = s.post(live.url + "/_2fa/verify", data={**form_fields(page.text), "code": code, "remember": "on"},
               allow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def remembered(live, name: str = "alice"):
    s, key, codes = enrolled_user(live, name)
    signed_in_again(live, s, name)
    assert is_challenged(live, s)
    answer = verify_remembered(live, s, next_code(key))
    assert "twofa_trusted=" in answer.headers["Set-Cookie"]
    assert "HttpOnly" in answer.headers["Set-Cookie"] and "SameSite=Lax" in answer.headers["Set-Cookie"]
    return s, key, codes


def test_a_remembered_browser_signs_in_again_without_the_code_and_is_listed(live_app):
    s, _, _ = remembered(live_app)
    signed_in_again(live_app, s, "alice")
    assert not is_challenged(live_app, s)
    assert not is_challenged(live_app, s)  # the verified cookie it got carries on
    account = s.get(live_app.url + "/_2fa/?next=/settings")
    assert "Trusted browsers" in account.text and "(This browser)" in account.text
    assert "python-requests" not in account.text  # a label, not the raw User-Agent
    listed = s.get(live_app.url + "/_2fa/api/browsers").json()["browsers"]
    assert len(listed) == 1 and listed[0]["this_browser"] is True and listed[0]["ip"] == "127.0.0.1"


def test_revoke_on_the_account_page_makes_the_next_sign_in_ask_for_the_code(live_app):
    s, _, _ = remembered(live_app)
    account = s.get(live_app.url + "/_2fa/?next=/settings")
    action = re.search(r'action="(/_2fa/browsers/\d+/revoke)"', account.text).group(1)
    no_csrf = s.post(live_app.url + action, data={"next": "/settings"}, allow_redirects=False)
    assert no_csrf.status_code == 403
    done = s.post(live_app.url + action, data=form_fields(account.text, action), allow_redirects=False)
    assert done.status_code == 303 and "twofa_trusted=;" in done.headers["Set-Cookie"]
    assert "No browser is trusted" in s.get(live_app.url + "/_2fa/").text
    signed_in_again(live_app, s, "alice")
    assert is_challenged(live_app, s)
    assert "browser_revoked" in [e.event for e in live_app.middleware.service.store.events("alice", 10)]


def test_a_revoked_cookie_kept_and_replayed_still_asks_for_the_code(live_app):
    s, _, _ = remembered(live_app)
    kept = s.cookies.get("twofa_trusted")
    r = s.delete(live_app.url + "/_2fa/api/browsers")
    assert r.status_code == 200 and r.json() == {"revoked": 1}
    signed_in_again(live_app, s, "alice")
    replace_trusted_cookie(s, kept)
    assert is_challenged(live_app, s)


def test_another_user_signing_in_in_the_same_browser_owes_the_code(live_app):
    s, _, _ = remembered(live_app)
    bob = register(live_app, "bob")
    enroll(live_app, bob)
    sign_out(live_app, bob)
    sign_out(live_app, s)
    sign_in(live_app, s, "bob")  # alice's trusted cookie is still in this browser
    assert s.cookies.get("twofa_trusted")
    assert is_challenged(live_app, s)


def test_disabling_2fa_ends_all_trust(live_app):
    s, _, _ = remembered(live_app)
    confirm = s.get(live_app.url + "/_2fa/disable?next=/settings")
    asked = s.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    confirm_password(live_app, s, asked, PASSWORD)
    enroll(live_app, s)  # on again, so the next sign-in owes a code
    signed_in_again(live_app, s, "alice")
    assert is_challenged(live_app, s)


def test_a_recovery_code_sign_in_ends_all_trust(live_app):
    s, _, codes = remembered(live_app)
    other = live_app.session()
    sign_in(live_app, other, "alice")
    page = other.get(live_app.url + "/_2fa/verify")
    r = other.post(live_app.url + "/_2fa/verify",
                   data={**form_fields(page.text), "code": codes[0], "remember": "on"}, allow_redirects=False)
    assert r.status_code == 303 and "twofa_trusted=" not in r.headers.get("Set-Cookie", "")
    signed_in_again(live_app, s, "alice")
    assert is_challenged(live_app, s)


def test_the_app_saying_the_password_changed_ends_all_trust(live_app):
    s, _, _ = remembered(live_app)
    assert live_app.middleware.forget_browsers("alice") == 1
    signed_in_again(live_app, s, "alice")
    assert is_challenged(live_app, s)


def replace_trusted_cookie(s, value: str) -> None:
    for cookie in list(s.cookies):
        if cookie.name == "twofa_trusted":
            s.cookies.clear(cookie.domain, cookie.path, cookie.name)
    s.cookies.set("twofa_trusted", value)


def test_a_tampered_cookie_asks_for_the_code_never_a_500(live_app):
    s, _, _ = remembered(live_app)
    value = s.cookies.get("twofa_trusted")
    for tampered in (value[:-3] + "abc", "x", value.split(".")[0] + ".AAAA.AAAA", value + value):
        signed_in_again(live_app, s, "alice")
        replace_trusted_cookie(s, tampered)
        assert is_challenged(live_app, s)
    signed_in_again(live_app, s, "alice")
    replace_trusted_cookie(s, value)  # the genuine one still works: nothing was spoiled
    assert not is_challenged(live_app, s)

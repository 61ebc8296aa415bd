"""The six user flows, driven over real HTTP against the Flask example.

Codes come from pyotp and the key shown on the setup page, as a person would
type them from an authenticator app. Only the current step and the next one are
used (the server accepts one step either side), so no test flakes at a 30 s
boundary: enrollment spends the current step, the sign-in after it the next.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers import alert_of, manual_key_of, recovery_codes_of

from .flows import (
    PASSWORD,
    confirm_password,
    enroll,
    enrolled_user,
    form_action,
    form_fields,
    href_of,
    is_challenged,
    next_code,
    now_code,
    register,
    sign_in,
    sign_out,
    signed_in_again,
    verify,
    wrong_code,
)

# -- (1) register, sign in, sign out ---------------------------------------------------


def test_register_sign_in_and_sign_out(live_app):
    s = register(live_app, "alice")
    page = s.get(live_app.url + "/settings")
    assert "Signed in as <strong>alice</strong>" in page.text
    assert "Sign out</button>" in page.text

    sign_out(live_app, s)
    assert s.get(live_app.url + "/settings").url.startswith(live_app.url + "/login")

    login = s.get(live_app.url + "/login")
    assert "Sign in</button>" in login.text and "Username" in login.text and "Password" in login.text
    r = s.post(live_app.url + "/login", data={"username": "alice", "password": PASSWORD})
    assert r.url == live_app.url + "/settings"
    assert "Signed in as <strong>alice</strong>" in r.text


def test_wrong_password_does_not_sign_in(live_app):
    register(live_app, "alice")
    s = live_app.session()
    r = s.post(live_app.url + "/login", data={"username": "alice", "password": "nope"})
    assert r.status_code == 401
    assert alert_of(r.text) == "Incorrect username or password."


def test_user_without_2fa_reaches_the_app_after_password_alone(live_app):
    s = register(live_app, "alice")
    signed_in_again(live_app, s, "alice")
    assert not is_challenged(live_app, s)


# -- (2) set up: password, QR, manual key, code ---------------------------------------------


def test_setup_asks_password_then_shows_qr_key_and_code_field(live_app):
    s = register(live_app, "alice")
    settings = s.get(live_app.url + "/settings")
    assert "Two-factor authentication is not enabled." in settings.text
    link = href_of(settings.text, "Set Up Two-Factor Authentication")
    assert link == "/_2fa/setup?next=/settings"

    asked = s.get(live_app.url + link)
    assert "Confirm your password" in asked.text
    wrong = confirm_password(live_app, s, asked, "not my password")
    assert wrong.status_code == 403
    assert alert_of(wrong.text) == "That password is not correct."

    setup = confirm_password(live_app, s, asked)
    assert setup.status_code == 200
    page = setup.text
    key = manual_key_of(page)

    # The QR code is an inline image: nothing is fetched from anywhere.
    src = re.search(r'<img class="tf-qr" src="([^"]+)"', page).group(1)
    assert src.startswith("data:image/svg+xml")
    svg = unquote(html.unescape(src))
    assert "href" not in svg and "<image" not in svg
    assert "<path" in svg

    # The key in groups of four, and the same key in the otpauth:// URI.
    grouped = re.search(r'id="manual-key">([^<]+)<', page).group(1)
    assert re.fullmatch(r"([A-Z2-7]{4} )+[A-Z2-7]{1,4}", grouped)
    assert len(key) == 32
    uri = html.unescape(re.search(r'id="otpauth-uri">([^<]+)<', page).group(1))
    assert uri.startswith("otpauth://totp/Example%20App:alice?")
    assert f"secret={key}" in uri
    assert "issuer=Example%20App" in uri

    # The secret never travels in a URL.
    for response in [*setup.history, setup]:
        assert key not in response.url
        assert key not in response.headers.get("Location", "")

    # The code field is labelled and tells phones to offer the code.
    assert '<label for="code">Authentication code</label>' in page
    field = re.search(r'<input id="code"[^>]*>', page, re.DOTALL).group(0)
    assert 'autocomplete="one-time-code"' in field
    assert 'inputmode="numeric"' in field
    assert ">Next</button>" in page


def test_setup_shows_the_same_key_on_reload(live_app):
    s = register(live_app, "alice")
    first = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup"))
    again = s.get(live_app.url + "/_2fa/setup")
    assert manual_key_of(again.text) == manual_key_of(first.text)


def test_setup_with_wrong_code_says_so_and_leaves_2fa_off(live_app):
    s = register(live_app, "alice")
    setup = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup"))
    key = manual_key_of(setup.text)
    r = s.post(live_app.url + "/_2fa/setup", data={**form_fields(setup.text), "code": wrong_code(key)})
    assert r.status_code == 400
    assert "not valid" in alert_of(r.text)
    assert manual_key_of(r.text) == key
    assert "Two-factor authentication is not enabled." in s.get(live_app.url + "/settings").text


# -- (3) recovery codes at setup: download, copy, saved, done -----------------------------


def test_setup_shows_ten_codes_with_download_copy_and_saved_checkbox(live_app):
    s = register(live_app, "alice")
    setup = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup?next=/settings"))
    key = manual_key_of(setup.text)
    r = s.post(live_app.url + "/_2fa/setup", data={**form_fields(setup.text), "code": now_code(key)},
               allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"] == "/_2fa/setup/recovery-codes?next=/settings"

    page = s.get(live_app.url + r.headers["Location"])
    assert "Save your recovery codes" in page.text
    codes = recovery_codes_of(page.text)
    assert len(codes) == 10 and len(set(codes)) == 10

    download = href_of(page.text, "Download")
    text = s.get(live_app.url + download)
    assert text.status_code == 200
    assert text.headers["Content-Type"].startswith("text/plain")
    assert text.headers["Content-Disposition"].startswith("attachment")
    assert all(code in text.text for code in codes)

    copy = re.search(r'<button[^>]*id="copy-codes"[^>]*>Copy</button>', page.text)
    assert copy, "no Copy button"
    copied = html.unescape(re.search(r'data-codes="([^"]*)"', copy.group(0)).group(1))
    assert copied.split("\n") == codes

    assert '<input type="checkbox" name="saved" id="saved"> I\'ve saved the data' in html.unescape(page.text)
    assert ">Done</button>" in page.text


def test_done_is_refused_until_saved_is_ticked(live_app):
    s = register(live_app, "alice")
    setup = confirm_password(live_app, s, s.get(live_app.url + "/_2fa/setup?next=/settings"))
    codes_page = s.post(live_app.url + "/_2fa/setup",
                        data={**form_fields(setup.text), "code": now_code(manual_key_of(setup.text))})
    fields = form_fields(codes_page.text, "/_2fa/setup/recovery-codes")

    refused = s.post(live_app.url + "/_2fa/setup/recovery-codes", data=fields)
    assert refused.status_code == 400
    assert html.unescape(alert_of(refused.text)) == (
        "Download or copy your recovery codes and tick \u201cI've saved the data\u201d first."
    )
    assert recovery_codes_of(refused.text) == recovery_codes_of(codes_page.text)

    done = s.post(live_app.url + "/_2fa/setup/recovery-codes", data={**fields, "saved": "on"},
                  allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == "/settings"
    settings = s.get(live_app.url + "/settings")
    assert "Two-factor authentication is enabled." in settings.text
    assert "10 recovery codes left" in settings.text


# -- (4) signing in with the second factor ---------------------------------------------------


def test_sign_in_asks_for_code_and_a_totp_code_lets_the_user_in(live_app):
    s, key, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")

    r = s.get(live_app.url + "/settings", allow_redirects=False)
    assert r.status_code == 303
    assert r.headers["Location"] == "/_2fa/verify?next=/settings"

    page = s.get(live_app.url + r.headers["Location"])
    assert ">Verify</button>" in page.text
    assert '<label for="code">Authentication code</label>' in page.text
    answer = s.post(live_app.url + "/_2fa/verify", data={**form_fields(page.text), "code": next_code(key)},
                    allow_redirects=False)
    assert answer.status_code == 303 and answer.headers["Location"] == "/settings"
    settings = s.get(live_app.url + "/settings")
    assert settings.status_code == 200
    assert "Signed in as <strong>alice</strong>" in settings.text


def test_the_app_page_asked_for_is_where_verify_returns_to(live_app):
    s, key, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    r = s.get(live_app.url + "/?tab=1", allow_redirects=False)
    assert r.headers["Location"] == "/_2fa/verify?next=/%3Ftab%3D1"
    final = verify(live_app, s, next_code(key), next_path="/?tab=1")
    assert final.headers["Location"] == "/?tab=1"


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(lambda c: c, id="as-shown"),
        pytest.param(lambda c: c.upper(), id="upper-case"),
        pytest.param(lambda c: c.replace("-", ""), id="no-dash"),
        pytest.param(lambda c: c.replace("-", " ").upper(), id="space-upper"),
        pytest.param(lambda c: "  " + "-".join(c.replace("-", "")) + " ", id="dashes-everywhere-padded"),
    ],
)
def test_recovery_code_signs_in_once_however_it_is_typed(live_app, typed):
    s, _, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    r = verify(live_app, s, typed(codes[3]))
    assert r.status_code == 303 and r.headers["Location"] == "/settings"
    assert "9 recovery codes left" in s.get(live_app.url + "/settings").text

    signed_in_again(live_app, s, "alice")
    again = verify(live_app, s, codes[3])
    assert again.status_code == 400
    assert "already been used" in alert_of(again.text)
    assert is_challenged(live_app, s)


@pytest.mark.parametrize(
    "unsafe",
    [
        pytest.param("//evil.com", id="protocol-relative"),
        pytest.param("https://evil.com", id="absolute"),
        pytest.param("/\\evil.com", id="backslash"),
        pytest.param("/\t/evil.com", id="tab-stripped-by-browsers"),
        pytest.param("javascript:alert(1)", id="javascript"),
    ],
)
def test_unsafe_next_falls_back_to_a_local_path(live_app, unsafe):
    s, key, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    page = s.get(live_app.url + "/_2fa/verify", params={"next": unsafe})
    assert form_fields(page.text)["next"] == "/settings"
    r = s.post(live_app.url + "/_2fa/verify",
               data={**form_fields(page.text), "next": unsafe, "code": next_code(key)}, allow_redirects=False)
    assert r.status_code == 303
    location = r.headers["Location"]
    assert location == "/settings"
    assert not urlsplit(location).netloc


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Accept": "application/json"}, id="json-accept"),
        pytest.param({"Accept": "*/*", "X-Requested-With": "XMLHttpRequest"}, id="xhr"),
    ],
)
def test_api_or_xhr_call_owing_second_factor_gets_401_json(live_app, headers):
    s, _, _ = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    r = s.get(live_app.url + "/settings", headers=headers, allow_redirects=False)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "two_factor_required"
    assert body["verify_url"] == "/_2fa/verify"


# -- (5) viewing and regenerating recovery codes ---------------------------------------------


def test_view_recovery_codes_after_password_marks_used_code(live_app):
    s, _, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    assert verify(live_app, s, codes[0]).status_code == 303

    settings = s.get(live_app.url + "/settings")
    asked = s.get(live_app.url + href_of(settings.text, "View Recovery Codes"))
    assert "Confirm your password" in asked.text
    page = confirm_password(live_app, s, asked)
    assert page.url.startswith(live_app.url + "/_2fa/recovery-codes")
    assert f"<del>{codes[0]}</del> <span class=\"tf-tag\">used</span>" in page.text
    assert recovery_codes_of(page.text) == codes[1:]


def test_generate_new_codes_after_confirmation_and_old_ones_stop_at_once(live_app):
    s, _, old = enrolled_user(live_app)
    # Still within the password confirmation of the setup: straight to the codes.
    view = s.get(live_app.url + "/_2fa/recovery-codes?next=/settings")
    assert recovery_codes_of(view.text) == old

    confirm = s.get(live_app.url + href_of(view.text, "Generate new codes"))
    assert "Generate new recovery codes?" in confirm.text
    assert "stop working" in confirm.text
    new_page = s.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    assert new_page.status_code == 200
    assert "Your new recovery codes" in new_page.text
    assert "Your old recovery codes no longer work." in new_page.text
    new = recovery_codes_of(new_page.text)
    assert len(new) == 10 and not set(new) & set(old)

    signed_in_again(live_app, s, "alice")
    refused = verify(live_app, s, old[5])
    assert refused.status_code == 400
    assert is_challenged(live_app, s)
    assert verify(live_app, s, new[5]).status_code == 303
    assert not is_challenged(live_app, s)


def test_regenerate_in_a_new_sign_in_asks_for_the_password(live_app):
    s, _, old = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    verify(live_app, s, old[0])
    asked = s.get(live_app.url + "/_2fa/recovery-codes/regenerate?next=/settings")
    assert "Confirm your password" in asked.text
    confirm = confirm_password(live_app, s, asked)
    assert "Generate new recovery codes?" in confirm.text


# -- (6) disabling ----------------------------------------------------------------------


def test_disable_after_confirm_and_password_then_password_alone_signs_in(live_app):
    s, _, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    verify(live_app, s, codes[0])

    settings = s.get(live_app.url + "/settings")
    confirm = s.get(live_app.url + href_of(settings.text, "Disable Two-Factor Authentication"))
    assert "Disable two-factor authentication?" in confirm.text
    asked = s.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    assert "Confirm your password" in asked.text
    assert "Two-factor authentication is enabled." in s.get(live_app.url + "/settings").text

    wrong = confirm_password(live_app, s, asked, "not my password")
    assert wrong.status_code == 403
    assert "Two-factor authentication is enabled." in s.get(live_app.url + "/settings").text

    done = confirm_password(live_app, s, asked)
    assert done.url == live_app.url + "/settings"
    assert "Two-factor authentication is not enabled." in done.text
    assert "Set Up Two-Factor Authentication" in done.text

    signed_in_again(live_app, s, "alice")
    assert not is_challenged(live_app, s)
    assert "Set Up Two-Factor Authentication" in s.get(live_app.url + "/settings").text


def test_lost_phone_recovery_code_then_disable_then_enroll_again(live_app):
    s, key, codes = enrolled_user(live_app)
    signed_in_again(live_app, s, "alice")
    verify(live_app, s, codes[9])
    confirm = s.get(live_app.url + "/_2fa/disable?next=/settings")
    asked = s.post(live_app.url + form_action(confirm.text), data=form_fields(confirm.text))
    confirm_password(live_app, s, asked)

    new_key, new_codes = enroll(live_app, s)
    assert new_key != key
    assert not set(new_codes) & set(codes)
    signed_in_again(live_app, s, "alice")
    assert verify(live_app, s, codes[0]).status_code == 400
    assert verify(live_app, s, new_codes[0]).status_code == 303


def test_signing_in_with_one_of_the_last_codes_warns_that_few_are_left(live_app):
    s, _, codes = enrolled_user(live_app)
    s.post(live_app.url + "/logout")
    for code in codes[:8]:
        sign_in(live_app, s, "alice")
        r = verify(live_app, s, code)
        s.post(live_app.url + "/logout")
    assert r.headers["Location"] == "/_2fa/?low=1&next=/settings"
    sign_in(live_app, s, "alice")
    verify(live_app, s, codes[8])
    page = s.get(live_app.url + "/_2fa/?low=1&next=/settings")
    assert alert_of(page.text).startswith("Only 1 recovery code left.")

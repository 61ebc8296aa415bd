"""The six flows of the core issue, in Chromium, the way a person goes through them.

Fields and buttons are found by their visible labels and roles; every
authentication code comes from Debian's oathtool.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .helpers import (
    PASSWORD,
    Authenticator,
    code_field,
    confirm_password,
    enroll,
    foreign_requests,
    recovery_codes_on_page,
    register,
    sign_in,
    sign_out,
    start_setup,
    verify_with,
)

pytestmark = pytest.mark.browser

CODE_SHAPE = re.compile(r"^[23456789abcdefghjkmnpqrstuvwxyz]{5}-[23456789abcdefghjkmnpqrstuvwxyz]{5}$")


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def downloaded_codes(page: Page, tmp_path: Path) -> tuple[str, list[str]]:
    """Click Download; the saved file's name and the codes in it."""
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = target.read_text(encoding="utf-8")
    return download.suggested_filename, re.findall(r"^([a-z0-9]{5}-[a-z0-9]{5})$", text, re.MULTILINE)


# -- 1. create an account, sign out, sign in ---------------------------------------------


def test_create_account_sign_out_and_sign_in_with_password_only(page: Page) -> None:
    register(page, "alice", PASSWORD)
    assert path_of(page) == "/settings"
    expect(page.get_by_text("Two-factor authentication is not enabled.")).to_be_visible()
    expect(page.get_by_role("link", name="Set Up Two-Factor Authentication")).to_be_visible()

    sign_out(page)
    sign_in(page, "alice", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    sign_in(page, "alice", PASSWORD)
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    assert path_of(page) == "/settings"  # no second step without 2FA


# -- 2 and 3. enroll, then save the recovery codes ----------------------------------------


def test_enrollment_shows_qr_key_and_uri_and_download_saves_the_codes(page: Page, tmp_path: Path) -> None:
    register(page, "alice", PASSWORD)
    page.get_by_role("link", name="Set Up Two-Factor Authentication").click()
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Confirm password").click()
    expect(page.get_by_role("alert")).to_have_text("That password is not correct.")
    confirm_password(page, PASSWORD)

    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    src = qr.get_attribute("src") or ""
    assert src.startswith("data:image/svg+xml"), "the QR code must be generated locally, inline"

    page.get_by_text("Can't scan it? Enter the key by hand").click()
    grouped = page.locator("#manual-key").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4}){7}", grouped), grouped  # 160 bits, in groups
    secret = grouped.replace(" ", "")
    assert secret not in src
    uri = page.locator("#otpauth-uri").inner_text().strip()
    assert uri == f"otpauth://totp/Example%20App:alice?secret={secret}&issuer=Example%20App"

    field = code_field(page)
    assert field.get_attribute("autocomplete") == "one-time-code"
    assert field.get_attribute("inputmode") == "numeric"

    app = Authenticator(secret)
    field.fill(app.wrong_code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not valid")
    assert (page.locator("#manual-key").text_content() or "").strip() == grouped  # same key after the error

    code_field(page).fill(app.code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = recovery_codes_on_page(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_SHAPE.match(c) for c in codes), codes

    saved = page.get_by_label("I've saved the data")
    done = page.get_by_role("button", name="Done")
    expect(saved).not_to_be_checked()
    expect(done).to_be_disabled()

    filename, in_file = downloaded_codes(page, tmp_path)
    assert filename.endswith(".txt")
    assert in_file == codes
    expect(saved).to_be_checked()
    expect(done).to_be_enabled()

    done.click()
    assert path_of(page) == "/settings"
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    expect(page.get_by_text("10 recovery codes left")).to_be_visible()
    expect(page.get_by_role("link", name="View Recovery Codes")).to_be_visible()
    expect(page.get_by_role("link", name="Disable Two-Factor Authentication")).to_be_visible()
    expect(page.get_by_role("link", name="Set Up Two-Factor Authentication")).to_have_count(0)


def test_copy_puts_the_codes_on_the_clipboard_and_ticks_saved(new_context, live_app) -> None:  # type: ignore[no-untyped-def]
    context: BrowserContext = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
    page = context.new_page()
    register(page, "alice", PASSWORD)
    setup = start_setup(page, PASSWORD)
    code_field(page).fill(Authenticator(setup.secret).code())
    page.get_by_role("button", name="Next").click()
    codes = recovery_codes_on_page(page)

    saved = page.get_by_label("I've saved the data")
    done = page.get_by_role("button", name="Done")
    expect(done).to_be_disabled()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    clipboard = page.evaluate("navigator.clipboard.readText()")
    assert clipboard.split() == codes
    expect(saved).to_be_checked()
    expect(done).to_be_enabled()
    done.click()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()


# -- 4. sign in with a code from the app, or a recovery code -------------------------------


def test_sign_in_asks_for_a_code_refuses_replays_and_returns_to_next(page: Page) -> None:
    register(page, "alice", PASSWORD)
    app, _ = enroll(page, PASSWORD)
    enrollment_code = app.last_code()
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    assert path_of(page) == "/_2fa/verify?next=/settings"
    field = code_field(page)
    expect(field).to_be_focused()
    assert field.get_attribute("autocomplete") == "one-time-code"

    # Where the user goes next is where they end up after the code.
    page.goto("/")
    assert path_of(page) == "/_2fa/verify?next=/"
    expect(code_field(page)).to_be_focused()

    verify_with(page, app.wrong_code())
    expect(page.get_by_role("alert")).to_contain_text("That code is not valid")
    verify_with(page, enrollment_code)
    expect(page.get_by_role("alert")).to_have_text("This code was already used. Wait for the next one from your app.")

    verify_with(page, app.code())
    assert path_of(page) == "/"
    expect(page.get_by_role("heading", name="Welcome, alice")).to_be_visible()
    page.goto("/settings")
    assert path_of(page) == "/settings"  # verified for the rest of this sign-in
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()


def test_a_recovery_code_signs_in_once(page: Page) -> None:
    register(page, "alice", PASSWORD)
    _, codes = enroll(page, PASSWORD)
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    verify_with(page, codes[3])
    assert path_of(page) == "/settings"
    expect(page.get_by_text("9 recovery codes left")).to_be_visible()
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    verify_with(page, codes[3])
    expect(page.get_by_role("alert")).to_have_text("That recovery code is not valid or has already been used.")
    verify_with(page, codes[4].upper().replace("-", " "))  # case, spaces and dashes do not matter
    assert path_of(page) == "/settings"
    expect(page.get_by_text("8 recovery codes left")).to_be_visible()


# -- 5. view and regenerate the recovery codes ----------------------------------------------


def test_view_recovery_codes_and_generate_new_ones(new_context, live_app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    context: BrowserContext = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
    page = context.new_page()
    register(page, "alice", PASSWORD)
    _, old = enroll(page, PASSWORD)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    verify_with(page, old[0])

    page.get_by_role("link", name="View Recovery Codes").click()
    confirm_password(page, PASSWORD)  # a new sign-in, so the password is asked again
    expect(page.get_by_role("heading", name="Recovery codes", exact=True)).to_be_visible()
    assert recovery_codes_on_page(page) == old[1:]
    used = page.locator("#recovery-codes li", has_text="used")
    expect(used).to_have_count(1)
    expect(used.locator("del")).to_have_text(old[0])

    _, in_file = downloaded_codes(page, tmp_path)
    assert in_file == old[1:]
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()").split() == old[1:]

    page.get_by_role("link", name="Generate new codes").click()
    expect(page.get_by_role("heading", name="Generate new recovery codes?")).to_be_visible()
    page.get_by_role("button", name="Generate new codes").click()
    expect(page.get_by_role("heading", name="Your new recovery codes")).to_be_visible()
    expect(page.get_by_text("Your old recovery codes no longer work.")).to_be_visible()
    new = recovery_codes_on_page(page)
    assert len(new) == 10 and not set(new) & set(old)
    page.get_by_role("link", name="Done").click()
    assert path_of(page) == "/settings"
    expect(page.get_by_text("10 recovery codes left")).to_be_visible()
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    verify_with(page, old[1])
    expect(page.get_by_role("alert")).to_have_text("That recovery code is not valid or has already been used.")
    verify_with(page, new[0])
    assert path_of(page) == "/settings"


# -- 6. disable, e.g. after losing the phone ---------------------------------------------------


def test_lost_phone_sign_in_with_recovery_code_then_disable(page: Page) -> None:
    register(page, "alice", PASSWORD)
    _, codes = enroll(page, PASSWORD)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    verify_with(page, codes[0])

    page.get_by_role("link", name="Disable Two-Factor Authentication").click()
    expect(page.get_by_role("heading", name="Disable two-factor authentication?")).to_be_visible()
    page.get_by_role("button", name="Disable two-factor authentication").click()
    confirm_password(page, PASSWORD)
    assert path_of(page) == "/settings"
    expect(page.get_by_text("Two-factor authentication is not enabled.")).to_be_visible()
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    assert path_of(page) == "/settings"  # the password alone again
    expect(page.get_by_text("Signed in as alice")).to_be_visible()


# -- the same-origin check itself ---------------------------------------------------------


def test_the_request_recorder_sees_requests_to_other_hosts(new_context, requested_urls, live_app) -> None:  # type: ignore[no-untyped-def]
    """The check that runs after every test above would notice a request elsewhere."""
    context: BrowserContext = new_context()
    context.route("http://192.0.2.1/**", lambda route: route.abort())  # never leaves the machine
    page = context.new_page()
    page.goto("/login")
    with page.expect_request("http://192.0.2.1/**"):
        page.set_content('<img src="http://192.0.2.1/pixel.png" alt="">')
    assert foreign_requests(requested_urls, live_app.url) == ["http://192.0.2.1/pixel.png"]
    assert any(url.startswith(live_app.url + "/login") for url in requested_urls)
    requested_urls.remove("http://192.0.2.1/pixel.png")  # seen: not a failure of this test

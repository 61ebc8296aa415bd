"""Enrollment as an authenticator app and a keyboard user meet it: the QR code read
back from the screen, and the whole enrollment and sign-in without a mouse."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from .helpers import PASSWORD, Authenticator, code_field, register, start_setup, tab_to

pytestmark = pytest.mark.browser


def test_qr_code_reads_back_as_the_uri_and_key_shown(page: Page) -> None:
    register(page, "alice", PASSWORD)
    setup = start_setup(page, PASSWORD)

    qr = page.get_by_role("img", name="QR code for your authenticator app")
    shot = Image.open(io.BytesIO(qr.screenshot()))
    found = zxingcpp.read_barcodes(shot)
    assert len(found) == 1, f"expected one QR code in the screenshot, found {len(found)}"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    scanned = found[0].text

    assert scanned == setup.otpauth_uri
    parts = urlsplit(scanned)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/Example App:alice"
    query = parse_qs(parts.query)
    assert query["secret"] == [setup.secret]
    assert query["issuer"] == ["Example App"]

    # What the phone read is enough to finish: a code from the scanned secret works.
    code_field(page).fill(Authenticator(query["secret"][0]).code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()


def test_keyboard_only_enrollment_and_sign_in(page: Page, tmp_path: Path) -> None:
    keys = page.keyboard
    page.goto("/register")
    expect(page.get_by_label("Username")).to_be_focused()
    keys.type("alice")
    keys.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    keys.type(PASSWORD)
    keys.press("Enter")
    expect(page.get_by_text("Signed in as alice")).to_be_visible()

    tab_to(page, page.get_by_role("link", name="Set Up Two-Factor Authentication"))
    keys.press("Enter")
    expect(page.get_by_label("Password")).to_be_focused()
    keys.type(PASSWORD)
    keys.press("Enter")

    # The code field has the focus; the manual key is one Shift+Tab and Enter away.
    expect(code_field(page)).to_be_focused()
    tab_to(page, page.get_by_text("Can't scan it? Enter the key by hand"), key="Shift+Tab")
    keys.press("Enter")
    key = page.locator("#manual-key")
    expect(key).to_be_visible()
    app = Authenticator(key.inner_text().replace(" ", ""))
    tab_to(page, code_field(page))
    keys.type(app.code())
    keys.press("Enter")

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = [c.strip() for c in page.locator("#recovery-codes li code").all_inner_texts()]
    tab_to(page, page.get_by_role("link", name="Download"))
    with page.expect_download() as download:
        keys.press("Enter")
    saved = tmp_path / "codes.txt"
    download.value.save_as(saved)
    assert all(code in saved.read_text() for code in codes)
    expect(page.get_by_label("I've saved the data")).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Done"))
    keys.press("Enter")
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()

    tab_to(page, page.get_by_role("button", name="Sign out"))
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    keys.type("alice")
    keys.press("Tab")
    keys.type(PASSWORD)
    keys.press("Enter")

    expect(page).to_have_url(re.compile(r"/_2fa/verify\?next=/settings$"))
    expect(code_field(page)).to_be_focused()
    keys.type(app.code())
    keys.press("Enter")
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()

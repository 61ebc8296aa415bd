"""The Django example in Chromium: sign in, enroll from the QR code or the key by hand,
sign out, sign in with a code, and sign out from the verify page under Django's CSRF."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.integration.django_support import live_django, unique

from .helpers import (
    DESKTOP,
    PASSWORD,
    code_field,
    foreign_requests,
    register,
    sign_in,
    sign_out,
    start_setup,
    verify_with,
)

pytestmark = pytest.mark.browser


class Phone:
    """An authenticator app (pyotp): each code for a later time step than the last one used."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None

    def code(self) -> str:
        current = int(time.time()) // 30
        step = current if self.last_step is None else max(current, self.last_step + 1)
        if step > current + 1:
            time.sleep((step - 1) * 30 - time.time() + 0.05)
        self.last_step = step
        return self.totp.at(step * 30 + 15)


@pytest.fixture
def django_page(browser: Browser) -> Iterator[Page]:
    url = live_django().url
    requested: list[str] = []
    context = browser.new_context(base_url=url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    context.on("request", lambda request: requested.append(request.url))
    yield context.new_page()
    context.close()
    assert requested and not foreign_requests(requested, url)


def test_django_sign_in_enroll_sign_out_sign_in_verify(django_page: Page) -> None:
    page = django_page
    name = unique("web")
    register(page, name, PASSWORD)
    expect(page.get_by_text("Two-factor authentication is not enabled.")).to_be_visible()

    setup = start_setup(page, PASSWORD)
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.screenshot())))
    assert len(found) == 1 and found[0].text == setup.otpauth_uri
    scanned = parse_qs(urlsplit(found[0].text).query)["secret"][0]
    assert scanned == setup.secret  # the key by hand is the one in the QR code
    phone = Phone(scanned)
    code_field(page).fill(phone.code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    expect(page.get_by_role("link", name="View Recovery Codes")).to_be_visible()
    expect(page.get_by_role("link", name="Personal access tokens")).to_be_visible()
    expect(page.get_by_role("link", name="Disable Two-Factor Authentication")).to_be_visible()

    sign_out(page)  # the app's own form, with Django's CSRF token
    sign_in(page, name, PASSWORD)
    expect(page).to_have_url(re.compile(r"/_2fa/verify\?next="))
    verify_with(page, phone.code())
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()

    # No phone at hand: "Sign out" on the verify page, with Django's CSRF protection on.
    sign_out(page)
    sign_in(page, name, PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))

"""The browser contract, the same for the Flask, Pyramid and Django examples, in Chromium.

One person's whole story, each step found by its visible label or role: create an
account, set up 2FA from the settings page with the key typed by hand, sign out,
sign in again and pass the verify page; then, in a second sign-in, give up at the
verify page with its "Sign out" button (under each framework's CSRF protection)
and be signed out.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.helpers import DESKTOP, PASSWORD, foreign_requests

from .conftest import Example, fresh_name

pytestmark = pytest.mark.browser

PERIOD = 30


class Phone:
    """An authenticator app (pyotp). The server takes each time step once and one step
    ahead of its clock, so each code is for a later step than the last one used."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None

    def code(self) -> str:
        current = int(time.time()) // PERIOD
        step = current if self.last_step is None else max(current, self.last_step + 1)
        if step > current + 1:
            time.sleep((step - 1) * PERIOD - time.time() + 0.05)  # as a person waits for a new code
        self.last_step = step
        return self.totp.at(step * PERIOD + PERIOD // 2)


@pytest.fixture
def page(browser: Browser, example: Example) -> Iterator[Page]:
    """A fresh browser context on the example; the pages may talk to no other host."""
    requested: list[str] = []
    context = browser.new_context(base_url=example.url, viewport=DESKTOP)
    context.set_default_timeout(10_000)
    context.on("request", lambda request: requested.append(request.url))
    yield context.new_page()
    context.close()
    assert requested, "no request was recorded: the same-origin check saw nothing"
    assert not foreign_requests(requested, example.url)


def path_of(page: Page) -> str:
    return urlsplit(page.url).path


def sign_in(page: Page, name: str) -> None:
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_register_set_up_2fa_sign_in_with_a_code_and_sign_out_from_verify(page: Page) -> None:
    name = fresh_name("web")

    # Create an account: signed in at once, on the settings page.
    page.goto("/register")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    expect(page.get_by_text("Two-factor authentication is not enabled.")).to_be_visible()

    # Set up 2FA from the settings page: password again, then the key by hand.
    page.get_by_role("link", name="Set Up Two-Factor Authentication").click()
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm password").click()
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    page.get_by_text("Can't scan it? Enter the key by hand").click()
    key = page.get_by_text(re.compile(r"^Key:"))
    expect(key).to_be_visible()
    phone = Phone(key.inner_text().removeprefix("Key:").replace(" ", "").strip())
    page.get_by_label("Authentication code").fill(phone.code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()

    # Back on the settings page, with the three buttons to the 2FA pages.
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    for button in ("View Recovery Codes", "Personal access tokens", "Disable Two-Factor Authentication"):
        expect(page.get_by_role("link", name=button)).to_be_visible()

    # Sign out, sign in: the verify page asks for the code, then the settings page.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    sign_in(page, name)
    expect(page).to_have_url(re.compile(r"/_2fa/verify(\?.*)?$"))
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_label("Authentication code").fill(phone.code())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()

    # A second sign-in, and no phone at hand: "Sign out" on the verify page.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    sign_in(page, name)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    # Signed out for the app and for the 2FA pages alike.
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))
    me = page.request.get("/api/me")
    assert me.status == 401 and me.json() == {"error": "not_signed_in"}

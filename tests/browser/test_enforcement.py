"""Required enrollment as a person meets it in Chromium (#14): a user in the grace
period is told the days left and reaches the app; a user past the deadline is sent
to set up and reaches nothing else until done. Codes come from oathtool."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import LiveApp, live_example

from .helpers import PASSWORD, Authenticator, code_field, confirm_password, read_setup_page, register, sign_in

pytestmark = pytest.mark.browser

DAY = 86400


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """The example with "set up 2FA within 7 days of registering", CSRF on (this module's own)."""
    with live_example(tmp_path, WTF_CSRF_ENABLED=True, TWOFA_ENROLL_WITHIN_DAYS=7) as live:
        yield live


def test_a_user_in_the_grace_period_sees_the_days_left_and_a_link_to_set_up(page: Page) -> None:
    register(page, "gina", PASSWORD)
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    banner = page.get_by_role("status")
    expect(banner).to_have_text(re.compile(r"Set up two-factor authentication within 7 days\.\s+Set up now"))
    page.goto("/")
    expect(page.get_by_role("heading", name="Welcome, gina")).to_be_visible()
    page.get_by_role("link", name="Set up now").click()
    confirm_password(page, PASSWORD)
    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()


def test_a_user_past_the_deadline_must_set_up_before_reaching_any_page(page: Page, live_app: LiveApp) -> None:
    users = live_app.app.extensions["example_users"]  # type: ignore[attr-defined]
    assert users.create("olga", PASSWORD, created_at=time.time() - 8 * DAY)
    sign_in(page, "olga", PASSWORD)
    # Sent to set up (the password first), not to the settings the sign-in asked for.
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/_2fa/setup\?next=/settings$"))
    for path in ("/", "/settings"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/_2fa/setup\?next=" + re.escape(path) + "$"))
        expect(page.get_by_text("Welcome, olga")).to_have_count(0)
        expect(page.get_by_role("heading", name="Account settings")).to_have_count(0)
    confirm_password(page, PASSWORD)
    setup = read_setup_page(page)
    code_field(page).fill(Authenticator(setup.secret).code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)
    page.goto("/")
    expect(page.get_by_role("heading", name="Welcome, olga")).to_be_visible()

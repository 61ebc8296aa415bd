"""Several authenticators, in Chromium: add a second app on the account page, sign in
with it, rename it, remove one and sign in with the other. Codes come from oathtool."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    PASSWORD,
    Authenticator,
    code_field,
    confirm_password,
    enroll,
    register,
    sign_in,
    sign_out,
    verify_with,
)

pytestmark = pytest.mark.browser


def open_account_page(page: Page) -> None:
    page.goto("/settings")
    page.get_by_role("link", name="Manage authenticators").click()
    expect(page.get_by_role("heading", name="Authenticators")).to_be_visible()


def forget_password_confirmation(page: Page) -> None:
    """As if the 5 minutes of the last password confirmation were over."""
    page.context.clear_cookies(name="twofa_sudo")


def add_authenticator_app(page: Page, name: str, first: Authenticator) -> Authenticator:
    """Account page → Add an authenticator app → password → scan (read the key) → name and code."""
    open_account_page(page)
    forget_password_confirmation(page)
    page.get_by_role("link", name="Add an authenticator app").click()
    confirm_password(page, PASSWORD)
    expect(page.get_by_role("heading", name="Add an authenticator app")).to_be_visible()
    page.get_by_text("Can't scan it? Enter the key by hand").click()
    # Replay protection is the user's, across apps: the new app's code must be for a later step.
    app = first.another_app(page.locator("#manual-key").inner_text().replace(" ", ""))
    page.get_by_label("Name (optional)").fill(name)
    code_field(page).fill(app.code())
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_text("The authenticator was added.")).to_be_visible()
    return app


def names_listed(page: Page) -> list[str]:
    return [n.strip() for n in page.locator("#authenticator-list .tf-authenticator-name").all_inner_texts()]


def test_a_second_authenticator_signs_in_and_removing_it_leaves_the_first(page: Page) -> None:
    register(page, "maria", PASSWORD)
    phone, codes = enroll(page, PASSWORD)
    tablet = add_authenticator_app(page, "Tablet", phone)
    assert names_listed(page) == ["Authenticator app", "Tablet"]
    expect(page.get_by_text(f"{len(codes)} recovery codes left.")).to_be_visible()

    # Sign in again with the second app only.
    sign_out(page)
    sign_in(page, "maria", PASSWORD)
    verify_with(page, tablet.code())
    expect(page.get_by_text("Signed in as maria")).to_be_visible()

    # Rename the first, then remove the second (confirm, then the password).
    open_account_page(page)
    page.locator("#authenticator-list li").first.get_by_text("Rename").click()
    page.get_by_label("New name for Authenticator app").fill("Old phone")
    page.locator("#authenticator-list li").first.get_by_role("button", name="Save name").click()
    assert names_listed(page) == ["Old phone", "Tablet"]
    forget_password_confirmation(page)
    page.get_by_role("link", name="Remove Tablet").click()
    expect(page.get_by_role("heading", name="Remove \u201cTablet\u201d?")).to_be_visible()
    page.get_by_role("button", name="Remove").click()
    confirm_password(page, PASSWORD)
    open_account_page(page)
    assert names_listed(page) == ["Old phone"]
    expect(page.get_by_role("link", name="Remove Old phone")).to_have_count(0)  # never the last one

    # The removed app no longer signs in; the first still does.
    sign_out(page)
    sign_in(page, "maria", PASSWORD)
    verify_with(page, tablet.last_code())  # refused as not valid (not as "already used"): it is gone
    expect(page.get_by_role("alert")).to_contain_text("not valid")
    verify_with(page, phone.code())
    expect(page.get_by_text("Signed in as maria")).to_be_visible()

"""Every page of the flows fits a phone (375 px) and a desktop window without
scrolling sideways, and its text stays at a readable size."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    DESKTOP,
    PASSWORD,
    PHONE,
    Authenticator,
    code_field,
    confirm_password,
    register,
    sign_in,
    sign_out,
    verify_with,
)

pytestmark = pytest.mark.browser

MIN_FONT_PX = 12


def check_fits(page: Page, name: str, seen: list[str]) -> None:
    page.wait_for_load_state()
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], f"{name} scrolls sideways at {size['width']} px: {widths}"
        smallest = page.evaluate(
            """() => Math.min(...[...document.body.querySelectorAll('*')]
                 .filter(el => el.offsetParent !== null && el.innerText && el.innerText.trim())
                 .map(el => parseFloat(getComputedStyle(el).fontSize)))"""
        )
        assert smallest >= MIN_FONT_PX, f"{name} has {smallest}px text at {size['width']} px"
    page.set_viewport_size(DESKTOP)
    seen.append(name)


def test_pages_fit_phone_and_desktop_widths(page: Page) -> None:
    seen: list[str] = []
    page.goto("/register")
    check_fits(page, "register", seen)
    register(page, "alice", PASSWORD)
    check_fits(page, "settings, 2FA off", seen)

    page.get_by_role("link", name="Set Up Two-Factor Authentication").click()
    check_fits(page, "password confirmation", seen)
    confirm_password(page, PASSWORD)
    page.get_by_text("Can't scan it? Enter the key by hand").click()
    check_fits(page, "setup, manual key open", seen)
    app = Authenticator(page.locator("#manual-key").inner_text().replace(" ", ""))
    code_field(page).fill(app.wrong_code())
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check_fits(page, "setup with an error", seen)
    code_field(page).fill(app.code())
    page.get_by_role("button", name="Next").click()
    check_fits(page, "recovery codes at setup", seen)
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()
    check_fits(page, "settings, 2FA on", seen)

    page.goto("/_2fa/")
    check_fits(page, "account security page", seen)
    page.get_by_role("link", name="View Recovery Codes").click()
    check_fits(page, "recovery codes", seen)
    page.get_by_role("link", name="Generate new codes").click()
    check_fits(page, "generate new codes?", seen)
    page.goto("/_2fa/disable")
    check_fits(page, "disable?", seen)

    sign_out(page)
    check_fits(page, "sign in", seen)
    sign_in(page, "alice", PASSWORD)
    check_fits(page, "verify", seen)
    verify_with(page, app.wrong_code())
    expect(page.get_by_role("alert")).to_be_visible()
    check_fits(page, "verify with an error", seen)
    assert len(seen) == 14

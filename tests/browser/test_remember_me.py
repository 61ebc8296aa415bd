"""Remember me, in Chromium: a returning browser with only the remember cookie owes the code,
and after it gets in and stays in. The example runs with Flask-WTF's CSRFProtect on.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .helpers import PASSWORD, enroll, register, sign_in, sign_out, verify_with

pytestmark = pytest.mark.browser


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def cookie_names(context: BrowserContext) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def sign_in_remembered(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Remember me").check()
    sign_in(page, username, PASSWORD)


def test_a_browser_back_with_only_the_remember_cookie_is_asked_for_the_code_then_stays_in(page: Page) -> None:
    context = page.context
    register(page, "alice", PASSWORD)
    authenticator, _codes = enroll(page, PASSWORD)
    sign_out(page)

    sign_in_remembered(page, "alice")
    verify_with(page, authenticator.code())
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    assert "remember_token" in cookie_names(context)

    # The browser comes back later: its session cookie is gone, the remember cookie is not.
    context.clear_cookies(name="session")
    assert "session" not in cookie_names(context) and "remember_token" in cookie_names(context)
    page.goto("/settings")
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    assert path_of(page).startswith("/_2fa/verify")
    expect(page.get_by_role("heading", name="Account settings")).to_have_count(0)  # the app served nothing

    verify_with(page, authenticator.code())
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    assert path_of(page) == "/settings"
    for _ in range(2):  # and stays in
        page.reload()
        expect(page.get_by_text("Signed in as alice")).to_be_visible()
        assert path_of(page) == "/settings"
    page.goto("/")
    expect(page.get_by_role("heading", name="Welcome, alice")).to_be_visible()


def test_sign_out_on_the_verify_page_ends_the_remembered_sign_in(page: Page) -> None:
    context = page.context
    register(page, "alice", PASSWORD)
    enroll(page, PASSWORD)
    sign_out(page)

    sign_in_remembered(page, "alice")
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()  # the middleware's own form, past CSRFProtect
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    assert "remember_token" not in cookie_names(context)
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))  # signed out, not owing a code

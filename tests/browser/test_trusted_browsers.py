"""Remember this browser, in Chromium: the Flask example offers it for 30 days. A remembered
browser signs its user in again without the code, is listed on the account page, and
Revoke makes the next sign-in ask again. It never spares the code to anyone else."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .helpers import PASSWORD, Authenticator, code_field, enroll, register, sign_in, sign_out, verify_with

pytestmark = pytest.mark.browser


def path_of(page: Page) -> str:
    return re.sub(r"^https?://[^/]+", "", page.url)


def expect_asked_for_the_code(page: Page) -> None:
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(code_field(page)).to_be_visible()
    assert path_of(page).startswith("/_2fa/verify")


def expect_signed_in(page: Page, username: str) -> None:
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    assert path_of(page) == "/settings"


def remember_this_browser(page: Page, username: str = "alice") -> tuple[Authenticator, list[str]]:
    register(page, username, PASSWORD)
    authenticator, codes = enroll(page, PASSWORD)
    sign_out(page)
    sign_in(page, username, PASSWORD)
    expect_asked_for_the_code(page)
    page.get_by_label("Remember this browser for 30 days").check()
    verify_with(page, authenticator.code())
    expect_signed_in(page, username)
    return authenticator, codes


def test_a_remembered_browser_skips_the_code_is_listed_and_revoke_asks_again(page: Page) -> None:
    remember_this_browser(page)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect_signed_in(page, "alice")  # no code asked

    page.goto("/_2fa/?next=/settings")
    section = page.locator("#browser-list")
    expect(page.get_by_role("heading", name="Trusted browsers")).to_be_visible()
    expect(section.get_by_text("(This browser)")).to_be_visible()
    expect(section.get_by_text(re.compile(r"^Chrom(e|ium) on Linux"))).to_be_visible()
    expect(section.get_by_text("127.0.0.1")).to_be_visible()
    page.get_by_role("button", name=re.compile(r"^Revoke .*\(this browser\)$")).click()
    expect(page.get_by_text("No browser is trusted.")).to_be_visible()

    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect_asked_for_the_code(page)


def test_another_user_in_the_same_browser_still_gives_a_code(page: Page) -> None:
    remember_this_browser(page, "alice")
    sign_out(page)
    register(page, "bob", PASSWORD)
    enroll(page, PASSWORD)
    sign_out(page)
    assert "twofa_trusted" in {c["name"] for c in page.context.cookies()}  # alice's, still here
    sign_in(page, "bob", PASSWORD)
    expect_asked_for_the_code(page)


def test_a_tampered_cookie_is_ignored_and_asks_for_the_code(page: Page) -> None:
    remember_this_browser(page)
    sign_out(page)
    [trusted] = [c for c in page.context.cookies() if c["name"] == "twofa_trusted"]
    page.context.add_cookies([{**trusted, "value": trusted["value"][:-4] + "AAAA"}])
    sign_in(page, "alice", PASSWORD)
    expect_asked_for_the_code(page)  # not an error page


def test_a_recovery_code_sign_in_elsewhere_ends_the_trust(
    page: Page, new_context: Callable[..., BrowserContext]
) -> None:
    _, codes = remember_this_browser(page)
    elsewhere = new_context().new_page()  # the phone is lost: a recovery code, in another browser
    sign_in(elsewhere, "alice", PASSWORD)
    verify_with(elsewhere, codes[0])
    expect(elsewhere.get_by_text("Signed in as alice")).to_be_visible()
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect_asked_for_the_code(page)

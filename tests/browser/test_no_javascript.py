"""With JavaScript off the pages still work: the server, not the script, gates Done."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from .helpers import (
    PASSWORD,
    Authenticator,
    code_field,
    confirm_password,
    recovery_codes_on_page,
    register,
    sign_in,
    sign_out,
    start_setup,
    verify_with,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def page(new_context) -> Page:  # type: ignore[no-untyped-def]
    return new_context(java_script_enabled=False).new_page()


def test_enroll_verify_and_disable_without_javascript(page: Page) -> None:
    register(page, "alice", PASSWORD)
    setup = start_setup(page, PASSWORD)
    app = Authenticator(setup.secret)
    code_field(page).fill(app.code())
    page.get_by_role("button", name="Next").click()

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = recovery_codes_on_page(page)
    assert len(codes) == 10
    expect(page.get_by_role("button", name="Copy")).to_have_count(0)  # needs JavaScript
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    saved = page.get_by_label("I've saved the data")
    done = page.get_by_role("button", name="Done")
    expect(saved).not_to_be_checked()

    # Done without the checkbox: the server refuses and shows the same codes again.
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        done.click()
    assert refused.value.status == 400
    expect(page.get_by_role("alert")).to_have_text(
        "Download or copy your recovery codes and tick \u201cI've saved the data\u201d first."
    )
    assert recovery_codes_on_page(page) == codes

    saved.check()
    done.click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    sign_out(page)

    sign_in(page, "alice", PASSWORD)
    expect(code_field(page)).to_be_focused()  # autofocus is HTML, not script
    verify_with(page, app.code())
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))

    page.get_by_role("link", name="Disable Two-Factor Authentication").click()
    page.get_by_role("button", name="Disable two-factor authentication").click()
    confirm_password(page, PASSWORD)
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text("Two-factor authentication is not enabled.")).to_be_visible()
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))

"""The Pyramid example in Chromium: the same labels and flows as the Flask example,
with Pyramid's CSRF protection on, and the verify page's "Sign out" working under it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import LiveApp
from tests.integration.pyramid_support import serve_example

from .helpers import PASSWORD, code_field, enroll, register, sign_in, sign_out, verify_with

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[LiveApp]:
    """The Pyramid example in place of the Flask one, for this module's browser fixtures."""
    yield from serve_example(tmp_path)


def test_pyramid_enroll_sign_out_from_verify_then_sign_in_with_a_code(page: Page) -> None:
    register(page, "alice", PASSWORD)
    app, _ = enroll(page, PASSWORD)
    sign_out(page)  # the app's own form, with Pyramid's CSRF token

    sign_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()  # no Pyramid CSRF token in this form
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/login\?next=/settings$"))

    sign_in(page, "alice", PASSWORD)
    verify_with(page, app.code())
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/settings$"))
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    expect(code_field(page)).to_have_count(0)

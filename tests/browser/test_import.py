"""Moving in, in Chromium: a user whose old site gave their app a secret (played by
Debian's oathtool) is imported with ``twofa import`` and signs in with the code the
app already shows, the way a person would."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Page, expect

from tests.helpers import SECRET_KEY, LiveApp
from twofa_middleware.cli import main

from .helpers import PASSWORD, Authenticator, oathtool, sign_in, verify_with

pytestmark = pytest.mark.browser


def test_an_imported_user_signs_in_with_the_code_their_app_already_shows(
    page: Page, live_app: LiveApp, tmp_path: Path
) -> None:
    secret = base64.b32encode(os.urandom(20)).decode()
    oathtool(secret)  # the independent generator takes this secret
    live_app.app.extensions["example_users"].create("nadia", PASSWORD)  # an account from before 2FA moved in
    csv_file = tmp_path / "old-site.csv"
    csv_file.write_text(f"nadia,otpauth://totp/Old%20Site:nadia?secret={secret}&issuer=Old%20Site\n", encoding="utf-8")
    env = {"TWOFA_DATABASE_URL": live_app.db_url, "TWOFA_SECRET_KEY": SECRET_KEY}
    imported = CliRunner().invoke(main, ["import", str(csv_file)], env=env)
    assert imported.output == "imported 1, already imported 0, refused 0\n", imported.output

    sign_in(page, "nadia", PASSWORD)
    verify_with(page, Authenticator(secret).code())
    expect(page.get_by_text("Signed in as nadia")).to_be_visible()
    page.goto("/settings")
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    page.get_by_role("link", name="Manage authenticators").click()
    expect(page.locator("#authenticator-list .tf-authenticator-name")).to_have_text(["Old Site"])

"""Regenerate the README's screenshots of the 2FA pages: ``make screenshots``.

Serves the Flask example on loopback with throwaway databases, goes through
enrollment and sign-in in Debian's chromium like the browser tests do, and writes
PNGs into ``docs/`` (or the directory given as the first argument).

    python -m tests.browser.screenshots [OUTDIR]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from examples.flask_app.app import create_app
from tests.helpers import SECRET_KEY, serve

from .helpers import (
    PHONE,
    Authenticator,
    add_security_key,
    code_field,
    enroll,
    has_horizontal_scroll,
    launch,
    missing_parts,
    register,
    sign_in,
    sign_out,
    start_setup,
    verify_with,
)
from .virtual_authenticator import add_virtual_authenticator

PASSWORD = "correct horse battery staple"
WIDTH = {"width": 1024, "height": 400}  # pages taller than this are shot whole


def shot(page: Page, path: Path) -> None:
    assert not has_horizontal_scroll(page), f"{path.name}: the page scrolls sideways"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    print(f"wrote {path}")


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs")
    missing = missing_parts()
    if missing:
        print("cannot take screenshots: " + "; ".join(missing), file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        # The pages' built-in look first, then one page in the example's own layout (Theming).
        for app_layout, shoot in ((False, take), (True, take_app_layout)):
            with tempfile.TemporaryDirectory() as tmp:
                app = create_app(
                    {
                        "USERS_DATABASE": f"{tmp}/users.db",
                        "TWOFA_DATABASE_URL": f"sqlite:///{tmp}/twofa.db",
                        "SECRET_KEY": SECRET_KEY,
                        "TWOFA_APP_LAYOUT": app_layout,
                    }
                )
                url, server, thread = serve(app)
                try:
                    # localhost, not the IP: WebAuthn refuses IP addresses
                    local = url.replace("127.0.0.1", "localhost")
                    context = browser.new_context(base_url=local, viewport=WIDTH, accept_downloads=True)
                    shoot(context.new_page(), out)
                    context.close()
                finally:
                    server.shutdown()  # type: ignore[attr-defined]
                    thread.join(5)
                    app.extensions["twofa"].service.store.dispose()
        browser.close()
    return 0


def take_app_layout(page: Page, out: Path) -> None:
    """The verify page inside the Flask example's own header, nav and stylesheet."""
    register(page, "alice", PASSWORD)
    enroll(page, PASSWORD)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    code_field(page).wait_for()
    shot(page, out / "theming-app-layout.png")


def take(page: Page, out: Path) -> None:
    register(page, "alice", PASSWORD)
    setup = start_setup(page, PASSWORD)  # with "Can't scan it?" open
    shot(page, out / "enrollment.png")
    page.set_viewport_size(PHONE)
    shot(page, out / "enrollment-phone.png")
    page.set_viewport_size(WIDTH)

    app = Authenticator(setup.secret)
    code_field(page).fill(app.code())
    page.get_by_role("button", name="Next").click()
    page.get_by_role("heading", name="Save your recovery codes").wait_for()
    shot(page, out / "recovery-codes.png")
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()

    page.goto("/_2fa/")
    page.get_by_role("link", name="View Recovery Codes").wait_for()
    shot(page, out / "account.png")

    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    code_field(page).wait_for()
    shot(page, out / "verify.png")
    page.set_extra_http_headers({"Accept-Language": "de"})  # the same page in a second language
    page.reload()
    page.get_by_label("Authentifizierungscode").wait_for()
    shot(page, out / "verify-de.png")
    page.set_extra_http_headers({})
    page.reload()

    verify_with(page, app.code())
    add_virtual_authenticator(page)
    add_security_key(page, PASSWORD, "YubiKey")
    page.get_by_text("The authenticator was added.").wait_for()
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    page.get_by_role("button", name="Use a security key").wait_for()
    shot(page, out / "security-key-sign-in.png")


if __name__ == "__main__":
    sys.exit(main(sys.argv))

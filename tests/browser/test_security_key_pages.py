"""Security keys on the real pages of the Flask example, in Chromium with a virtual
authenticator, at http://localhost:PORT (WebAuthn refuses IP addresses): add one on the
account page, sign in with it, a second key, removing one, a key as the only factor
(recovery codes still work), a cloned key, and the pages without JavaScript or WebAuthn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.helpers import LiveApp

from .helpers import (
    DESKTOP,
    PASSWORD,
    add_security_key,
    confirm_password,
    enroll,
    foreign_requests,
    recovery_codes_on_page,
    register,
    sign_in,
    sign_out,
    use_security_key,
    verify_with,
)
from .virtual_authenticator import add_virtual_authenticator

pytestmark = pytest.mark.browser

AT_SETTINGS = re.compile(r"^http://localhost:\d+/settings$")  # the app, past the second factor


@pytest.fixture
def base_url(live_app: LiveApp) -> str:
    return live_app.url.replace("127.0.0.1", "localhost")


@pytest.fixture
def local_context(browser: Browser, base_url: str) -> Iterator[Callable[..., BrowserContext]]:
    """As the ``new_context`` fixture, on the localhost URL; only that origin may be contacted."""
    opened: list[BrowserContext] = []
    requested: list[str] = []

    def open_context(**options: Any) -> BrowserContext:
        context = browser.new_context(base_url=base_url, viewport=DESKTOP, accept_downloads=True, **options)
        context.set_default_timeout(10_000)
        context.on("request", lambda request: requested.append(request.url))
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()
    assert requested
    assert not foreign_requests(requested, base_url)


@pytest.fixture
def page(local_context: Callable[..., BrowserContext]) -> Page:
    return local_context().new_page()


def authenticator_rows(page: Page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("#authenticator-list li").all_inner_texts()]


def finish_codes(page: Page) -> list[str]:
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = recovery_codes_on_page(page)
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()
    return codes


def signed_in_again(page: Page) -> None:
    sign_out(page)
    sign_in(page, "alice", PASSWORD)


def test_a_security_key_as_the_only_factor(page: Page, live_app: LiveApp) -> None:
    key = add_virtual_authenticator(page)
    register(page, "alice", PASSWORD)
    add_security_key(page, PASSWORD, "My key")
    codes = finish_codes(page)  # the first factor: recovery codes, as with an app
    assert len(codes) == 10
    assert any(row.startswith("My key Security key") for row in authenticator_rows(page))
    (credential,) = key.credentials()
    assert credential["rpId"] == "localhost"
    kinds = page.request.get("/_2fa/api/authenticators").json()["authenticators"]
    assert [(a["kind"], a["name"]) for a in kinds] == [("webauthn", "My key")]

    signed_in_again(page)
    use_security_key(page)
    expect(page).to_have_url(AT_SETTINGS)
    expect(page.get_by_text("Signed in as alice")).to_be_visible()

    signed_in_again(page)  # only a key enrolled: a recovery code still signs in
    verify_with(page, codes[0])
    expect(page).to_have_url(AT_SETTINGS)

    signed_in_again(page)
    key.set_sign_count(credential["credentialId"], 0)  # a copy made before those sign-ins
    with page.expect_response(lambda r: r.url.endswith("/verify/security-key/finish")) as finished:
        use_security_key(page)
    expect(page.get_by_role("status").filter(has_text="This security key may have been copied")).to_be_visible()
    assert (finished.value.status, finished.value.json()["error"]) == (403, "security_key_cloned")
    expect(page.get_by_role("button", name="Verify")).to_be_visible()  # still owing the second factor
    events = [e.event for e in live_app.middleware.service.store.events("alice")]  # type: ignore[attr-defined]
    assert "webauthn_cloned" in events


def test_a_second_key_and_removing_one(page: Page) -> None:
    first = add_virtual_authenticator(page)
    register(page, "alice", PASSWORD)
    app, _ = enroll(page, PASSWORD)
    add_security_key(page, PASSWORD, "Key one")
    expect(page.get_by_text("The authenticator was added.")).to_be_visible()  # no new recovery codes

    add_security_key(page, PASSWORD, "Key one again")  # the same key: excluded by the browser
    expect(page.get_by_role("status").filter(has_text="This security key is already registered.")).to_be_visible()

    first.remove()
    add_virtual_authenticator(page)
    add_security_key(page, PASSWORD, "Key two")
    expect(page.get_by_text("The authenticator was added.")).to_be_visible()
    rows = authenticator_rows(page)
    assert [r.split(" Authenticator app")[0].split(" Security key")[0] for r in rows] == [
        "Authenticator app", "Key one", "Key two"
    ]

    signed_in_again(page)
    use_security_key(page)
    expect(page).to_have_url(AT_SETTINGS)
    page.goto("/_2fa/")
    page.get_by_role("link", name="Remove Key one").click()
    page.get_by_role("button", name="Remove").click()
    confirm_password(page, PASSWORD)
    expect(page.locator("#authenticator-list")).not_to_contain_text("Key one")
    expect(page.locator("#authenticator-list")).to_contain_text("Key two")

    signed_in_again(page)  # the app still works too
    verify_with(page, app.code())
    expect(page).to_have_url(AT_SETTINGS)


def test_without_javascript_or_webauthn_the_code_form_is_the_page(
    page: Page, local_context: Callable[..., BrowserContext]
) -> None:
    add_virtual_authenticator(page)
    register(page, "alice", PASSWORD)
    app, _ = enroll(page, PASSWORD)
    add_security_key(page, PASSWORD, "Key")
    expect(page.get_by_text("The authenticator was added.")).to_be_visible()

    for options, script in (({"java_script_enabled": False}, None), ({}, "delete window.PublicKeyCredential;")):
        other = local_context(**options).new_page()
        if script:
            other.add_init_script(script)
        sign_in(other, "alice", PASSWORD)
        expect(other.get_by_role("button", name="Verify")).to_be_visible()
        expect(other.get_by_role("button", name="Use a security key")).to_be_hidden()
        verify_with(other, app.code())
        expect(other).to_have_url(AT_SETTINGS)
        other.goto("/_2fa/")
        expect(other.get_by_role("link", name="Add a security key")).to_be_hidden()
        expect(other.get_by_role("button", name="Add a security key")).to_be_hidden()

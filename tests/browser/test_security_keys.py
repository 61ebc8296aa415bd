"""Security keys end to end, before the middleware's pages have them: Chromium with a
virtual authenticator against a tiny app that calls ``security_keys`` (webauthn_app.py),
on a real loopback server reached as http://localhost:PORT (WebAuthn refuses IP addresses).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers import serve

from .virtual_authenticator import add_virtual_authenticator
from .webauthn_app import WebAuthnApp

pytestmark = pytest.mark.browser


@pytest.fixture
def app() -> Iterator[tuple[WebAuthnApp, str]]:
    application = WebAuthnApp()
    url, server, thread = serve(application)
    try:
        yield application, url.replace("127.0.0.1", "localhost")
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)


@pytest.fixture
def page(browser: Browser, app: tuple[WebAuthnApp, str]) -> Iterator[Page]:
    context = browser.new_context(base_url=app[1])
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def register(page: Page, name: str) -> None:
    page.goto("/")
    page.get_by_label("Security key name").fill(name)
    page.get_by_role("button", name="Add a security key").click()
    expect(page.get_by_role("listitem").filter(has_text=name)).to_be_visible()


def sign_in(page: Page) -> None:
    page.goto("/")
    page.get_by_role("button", name="Use a security key").click()
    expect(page.get_by_text("Signed in with your security key.")).to_be_visible()


def test_a_key_is_registered_then_signs_in(page: Page, app: tuple[WebAuthnApp, str]) -> None:
    key = add_virtual_authenticator(page)
    register(page, "My virtual key")
    (credential,) = key.credentials()
    assert credential["rpId"] == "localhost"
    (stored,) = app[0].credentials.values()
    assert stored.credential.transports == ("internal",)
    sign_in(page)
    sign_in(page)
    assert stored.sign_count == key.credentials()[0]["signCount"] > 0
    assert app[0].refusals == []


def test_the_same_key_is_not_registered_twice(page: Page) -> None:
    add_virtual_authenticator(page)
    register(page, "Once")
    page.get_by_label("Security key name").fill("Twice")
    page.get_by_role("button", name="Add a security key").click()
    expect(page.get_by_role("status").filter(has_text="This security key is already registered.")).to_be_visible()


def test_a_replayed_sign_in_is_refused(page: Page, app: tuple[WebAuthnApp, str]) -> None:
    add_virtual_authenticator(page)
    register(page, "Key")
    with page.expect_request(lambda r: r.url.endswith("/finish/authenticate")) as finished:
        sign_in(page)
    first = finished.value
    csrf = first.headers["x-csrf-token"]
    replay = page.request.post(
        "/finish/authenticate", data=first.post_data or "",
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf},
    )
    assert replay.status == 400
    assert replay.json()["error"] == "invalid_security_key"
    assert app[0].refusals == ["challenge"]


def test_a_key_whose_counter_went_back_is_refused_as_cloned(page: Page, app: tuple[WebAuthnApp, str]) -> None:
    key = add_virtual_authenticator(page)
    register(page, "Key")
    sign_in(page)
    sign_in(page)
    (credential,) = key.credentials()
    key.set_sign_count(credential["credentialId"], 0)  # a copy made before those sign-ins
    page.goto("/")
    with page.expect_response(lambda r: r.url.endswith("/finish/authenticate")) as finished:
        page.get_by_role("button", name="Use a security key").click()
    expect(page.get_by_role("status").filter(has_text="This security key may have been copied")).to_be_visible()
    answer = finished.value
    assert answer.status == 403
    assert answer.json()["error"] == "security_key_cloned"
    assert app[0].refusals == ["cloned"]


def test_without_javascript_only_the_code_form_shows(browser: Browser, app: tuple[WebAuthnApp, str]) -> None:
    context = browser.new_context(base_url=app[1], java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.get_by_role("button", name="Verify")).to_be_visible()
        expect(page.get_by_role("button", name="Use a security key")).to_be_hidden()
        expect(page.get_by_role("button", name="Add a security key")).to_be_hidden()
    finally:
        context.close()


def test_without_webauthn_in_the_browser_only_the_code_form_shows(
    browser: Browser, app: tuple[WebAuthnApp, str]
) -> None:
    context = browser.new_context(base_url=app[1])
    try:
        page = context.new_page()
        page.add_init_script("delete window.PublicKeyCredential;")
        page.goto("/")
        expect(page.get_by_role("button", name="Verify")).to_be_visible()
        expect(page.get_by_role("button", name="Use a security key")).to_be_hidden()
        expect(page.get_by_role("button", name="Add a security key")).to_be_hidden()
    finally:
        context.close()

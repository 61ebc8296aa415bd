"""Accessibility of every 2FA page and state, in Chromium: axe-core finds no WCAG 2.2 AA
violation, the whole flow works by keyboard alone with a visible focus, errors are tied
to their fields, pasted codes with spaces or dashes sign in, and status changes are in
live regions.

The states are one table (``STATES``), each a function that walks a fresh browser to
it; there axe runs in the light and the dark colour scheme. The same walks run in
Arabic and German too (``speaking``: the steps read the pages' words in that language).
The app is reached at http://localhost:PORT, where the security-key pages work too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.helpers import LiveApp

from .axe import assert_no_violations, report, violations
from .helpers import (
    DESKTOP,
    PASSWORD,
    Authenticator,
    _,
    add_security_key,
    code_field,
    confirm_password,
    enroll,
    foreign_requests,
    has_horizontal_scroll,
    overflowing,
    pattern,
    recovery_codes_on_page,
    register,
    sign_in,
    sign_out,
    speaking,
    start_setup,
    verify_with,
)
from .virtual_authenticator import add_virtual_authenticator

pytestmark = pytest.mark.browser


@pytest.fixture
def base_url(live_app: LiveApp) -> str:
    return live_app.url.replace("127.0.0.1", "localhost")  # WebAuthn refuses IP addresses


@pytest.fixture
def open_context(browser: Browser, base_url: str) -> Iterator[Callable[..., BrowserContext]]:
    """A browser context on the app; when the test ends, no other origin may have been contacted."""
    opened: list[BrowserContext] = []
    requested: list[str] = []

    def open_one(**options: Any) -> BrowserContext:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=base_url, accept_downloads=True, **options)
        context.set_default_timeout(10_000)
        context.on("request", lambda request: requested.append(request.url))
        opened.append(context)
        return context

    yield open_one
    for context in opened:
        context.close()
    assert requested
    assert not foreign_requests(requested, base_url)


# -- the way to each state ---------------------------------------------------------------


@dataclass
class Walk:
    """What a walk leaves behind for the next steps: the user's app and recovery codes."""

    app: Authenticator | None = None
    codes: list[str] | None = None


def added_app_secret(page: Page) -> str:
    """On "Add an authenticator app": open "Can't scan it?" and read the key."""
    expect(page.get_by_role("heading", name=_("Add an authenticator app"))).to_be_visible()
    page.get_by_text(_("Can't scan it? Enter the key by hand")).click()
    return page.locator("#manual-key").inner_text().replace(" ", "")


def password_if_asked(page: Page) -> None:
    if page.get_by_role("heading", name=_("Confirm your password")).is_visible():
        confirm_password(page, PASSWORD)


def registered(page: Page) -> Walk:
    register(page, "alice", PASSWORD)
    return Walk()


def enrolled(page: Page) -> Walk:
    register(page, "alice", PASSWORD)
    app, codes = enroll(page, PASSWORD)
    return Walk(app, codes)


def at_verify(page: Page) -> Walk:
    walk = enrolled(page)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name=_("Two-factor authentication"))).to_be_visible()
    return walk


def sign_in_page(page: Page) -> None:
    page.goto("/login")


def password_page(page: Page) -> None:
    registered(page)
    page.goto("/settings")
    page.get_by_role("link", name="Set Up Two-Factor Authentication").click()
    expect(page.get_by_role("heading", name=_("Confirm your password"))).to_be_visible()


def password_wrong(page: Page) -> None:
    password_page(page)
    page.get_by_label(_("Password")).fill("not the password")
    page.get_by_role("button", name=_("Confirm password")).click()
    expect(page.get_by_role("alert")).to_be_visible()


def setup_page(page: Page) -> None:
    registered(page)
    start_setup(page, PASSWORD)  # opens "Can't scan it?": the QR code and the key both shown


def setup_wrong_code(page: Page) -> None:
    registered(page)
    setup = start_setup(page, PASSWORD)
    code_field(page).fill(Authenticator(setup.secret).wrong_code())
    page.get_by_role("button", name=_("Next")).click()
    expect(page.get_by_role("alert")).to_be_visible()


def codes_after_setup(page: Page) -> None:
    registered(page)
    setup = start_setup(page, PASSWORD)
    code_field(page).fill(Authenticator(setup.secret).code())
    page.get_by_role("button", name=_("Next")).click()
    expect(page.get_by_role("heading", name=_("Save your recovery codes"))).to_be_visible()


def verify_page(page: Page) -> None:
    at_verify(page)


def verify_wrong_code(page: Page) -> None:
    walk = at_verify(page)
    assert walk.app
    verify_with(page, walk.app.wrong_code())
    expect(page.get_by_role("alert")).to_have_text(
        _("That code is not valid. Check your authenticator app and try again.")
    )


def verify_locked_out(page: Page) -> None:
    walk = at_verify(page)
    assert walk.app
    wrong = walk.app.wrong_code()
    for _attempt in range(6):
        verify_with(page, wrong)
    locked = pattern(
        "Too many wrong codes. Try again in %(num)s second.", "Too many wrong codes. Try again in %(num)s seconds."
    )
    expect(page.get_by_role("alert")).to_have_text(locked)


def verify_wrong_recovery_code(page: Page) -> None:
    at_verify(page)
    verify_with(page, "zzzzz-zzzzz")
    expect(page.get_by_role("alert")).to_be_visible()


def account_full(page: Page) -> None:
    """Two authenticator apps, a trusted browser and a token."""
    walk = enrolled(page)
    assert walk.app
    page.goto("/_2fa/")
    page.get_by_role("link", name=_("Add an authenticator app")).click()
    password_if_asked(page)
    second = walk.app.another_app(added_app_secret(page))
    code_field(page).fill(second.code())
    page.get_by_label(_("Name (optional)")).fill("Tablet")
    page.get_by_role("button", name=_("Add"), exact=True).click()
    expect(page.get_by_text(_("The authenticator was added."))).to_be_visible()
    new_token(page)
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    remember = pattern("Remember this browser for %(count)s day", "Remember this browser for %(count)s days")
    page.get_by_label(remember).check()
    verify_with(page, walk.app.code())
    expect(page).to_have_url(re.compile("/settings$"))
    page.goto("/_2fa/")
    expect(page.locator("#browser-list")).to_contain_text(_("(This browser)"))


def new_token(page: Page) -> None:
    page.goto("/_2fa/tokens")
    password_if_asked(page)
    page.get_by_label(_("Name"), exact=True).fill("deploy script")
    page.get_by_role("button", name=_("Generate token")).click()
    expect(page.locator("#new-token")).to_be_visible()


def tokens_new_token(page: Page) -> None:
    enrolled(page)
    new_token(page)


def goto_through_password(path: str) -> Callable[[Page], None]:
    def walk(page: Page) -> None:
        enrolled(page)
        page.goto(path)
        password_if_asked(page)

    return walk


def new_recovery_codes(page: Page) -> None:
    goto_through_password("/_2fa/recovery-codes/regenerate")(page)
    page.get_by_role("button", name=_("Generate new codes")).click()
    password_if_asked(page)
    expect(page.get_by_role("heading", name=_("Your new recovery codes"))).to_be_visible()


def remove_confirmation(page: Page) -> None:
    account_with_two_apps(page)
    page.get_by_role("link", name=pattern("Remove %(name)s")).first.click()
    password_if_asked(page)
    expect(page.get_by_role("button", name=_("Remove"), exact=True)).to_be_visible()


def account_with_two_apps(page: Page) -> None:
    walk = enrolled(page)
    assert walk.app
    page.goto("/_2fa/setup")
    password_if_asked(page)
    code_field(page).fill(walk.app.another_app(added_app_secret(page)).code())
    page.get_by_role("button", name=_("Add"), exact=True).click()
    expect(page.get_by_text(_("The authenticator was added."))).to_be_visible()


def security_key_form(page: Page) -> None:
    add_virtual_authenticator(page)
    enrolled(page)
    page.goto("/_2fa/")
    expect(page.get_by_label(_("Security key name"))).to_be_visible()


def security_key_refused(page: Page) -> None:
    """The ceremony's failure text, in its live region: the same key registered twice."""
    add_virtual_authenticator(page)
    enrolled(page)
    add_security_key(page, PASSWORD, "Key")
    expect(page.get_by_text(_("The authenticator was added."))).to_be_visible()
    add_security_key(page, PASSWORD, "Key again")
    expect(page.get_by_role("status").filter(has_text=_("This security key is already registered."))).to_be_visible()


def verify_with_security_key(page: Page) -> None:
    add_virtual_authenticator(page)
    enrolled(page)
    add_security_key(page, PASSWORD, "Key")
    expect(page.get_by_text(_("The authenticator was added."))).to_be_visible()
    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    expect(page.get_by_role("button", name=_("Use a security key"))).to_be_visible()


def not_found(page: Page) -> None:
    registered(page)
    page.goto("/_2fa/no-such-page")
    expect(page.get_by_role("heading")).to_be_visible()


def account_not_enabled(page: Page) -> None:
    registered(page)
    page.goto("/_2fa/")


def recovery_codes_one_used(page: Page) -> None:
    walk = at_verify(page)
    assert walk.codes
    verify_with(page, walk.codes[0])
    expect(page).to_have_url(re.compile("/settings$"))
    page.goto("/_2fa/recovery-codes")
    password_if_asked(page)
    expect(page.locator("#recovery-codes del")).to_have_count(1)


def codes_copied(page: Page) -> None:
    codes_after_setup(page)
    page.get_by_role("button", name=_("Copy")).click()
    expect(page.get_by_role("status")).to_have_text(_("Copied"))


def token_copied(page: Page) -> None:
    tokens_new_token(page)
    page.get_by_role("button", name=_("Copy")).click()
    expect(page.get_by_role("status")).to_have_text(_("Copied"))


COPYING = {"permissions": ["clipboard-read", "clipboard-write"]}
REFLOW = {"width": 320, "height": 640}  # WCAG 1.4.10: no sideways scrolling at 320 CSS pixels


def narrow(walk: Callable[[Page], None]) -> tuple[Callable[[Page], None], dict[str, Any]]:
    return walk, {"viewport": REFLOW}


# name -> (the walk there, context options)
STATES: dict[str, tuple[Callable[[Page], None], dict[str, Any]]] = {
    "sign-in": (sign_in_page, {}),
    "password confirmation": (password_page, {}),
    "password confirmation, wrong password": (password_wrong, {}),
    "setup, QR code and manual key": (setup_page, {}),
    "setup, wrong code": (setup_wrong_code, {}),
    "recovery codes after setup": (codes_after_setup, {}),
    "verify": (verify_page, {}),
    "verify, wrong code": (verify_wrong_code, {}),
    "verify, locked out": (verify_locked_out, {}),
    "verify, wrong recovery code": (verify_wrong_recovery_code, {}),
    "account, two apps, trusted browser, token": (account_full, {}),
    "recovery codes, copied": (codes_copied, COPYING),
    "account, 2FA not enabled": (account_not_enabled, {}),
    "tokens, new token shown": (tokens_new_token, {}),
    "tokens, new token copied": (token_copied, COPYING),
    "recovery codes": (goto_through_password("/_2fa/recovery-codes"), {}),
    "recovery codes, one used": (recovery_codes_one_used, {}),
    "regenerate confirmation": (goto_through_password("/_2fa/recovery-codes/regenerate"), {}),
    "new recovery codes": (new_recovery_codes, {}),
    "disable confirmation": (goto_through_password("/_2fa/disable"), {}),
    "remove authenticator confirmation": (remove_confirmation, {}),
    "security key, add form": (security_key_form, {}),
    "security key, refused": (security_key_refused, {}),
    "verify, security key": (verify_with_security_key, {}),
    "error page (404)": (not_found, {}),
    "narrow, setup": narrow(setup_page),
    "narrow, codes": narrow(codes_after_setup),
    "narrow, account": narrow(account_full),
    "narrow, tokens": narrow(tokens_new_token),
    "narrow, verify, wrong code": narrow(verify_wrong_code),
}


# Both schemes are checked at the end of one walk: prefers-color-scheme switches in place.
COLOR_SCHEMES = ("light", "dark")


@pytest.mark.parametrize("state", list(STATES))
def test_no_wcag_violations(open_context: Callable[..., BrowserContext], state: str) -> None:
    walk, options = STATES[state]
    page = open_context(**options).new_page()
    walk(page)
    found = {}
    for scheme in COLOR_SCHEMES:
        page.emulate_media(color_scheme=scheme)
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        found[scheme] = violations(page)
    assert not any(found.values()), "\n".join(
        f"axe found {len(v)} WCAG 2.2 AA violation(s) on {state} ({scheme}, {page.url}):\n{report(v)}"
        for scheme, v in found.items()
        if v
    )
    if options.get("viewport") == REFLOW:
        assert not has_horizontal_scroll(page), f"{state}: the page scrolls sideways at 320 pixels"


# Right to left (Arabic) and long words (German): every 2FA page's state, each checked at the
# desktop width and then at 320 pixels (so not the "narrow" states again: the same walks); the
# light scheme only. The sign-in page is the example app's own, in English.
LANGUAGES = ("ar", "de")
IN_OTHER_LANGUAGES = [name for name in STATES if name != "sign-in" and not name.startswith("narrow, ")]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", IN_OTHER_LANGUAGES)
def test_no_wcag_violations_in_other_languages(
    open_context: Callable[..., BrowserContext], state: str, language: str
) -> None:
    walk, options = STATES[state]
    page = open_context(locale=language, **options).new_page()  # Accept-Language: ar (or de)
    with speaking(language):
        walk(page)
    expect(page.locator("html")).to_have_attribute("lang", language)
    found = {}
    for viewport in (DESKTOP, REFLOW):
        page.set_viewport_size(viewport)
        found[viewport["width"]] = violations(page)
        assert not has_horizontal_scroll(page), (
            f"{state} ({language}) scrolls sideways at {viewport['width']} px: {overflowing(page)}"
        )
    assert not any(found.values()), "\n".join(
        f"axe found {len(v)} WCAG 2.2 AA violation(s) on {state} ({language}, {width} px, {page.url}):\n{report(v)}"
        for width, v in found.items()
        if v
    )


def test_the_check_finds_a_violation(open_context: Callable[..., BrowserContext]) -> None:
    """The check itself can fail: a field without a label on the sign-in page is reported."""
    page = open_context().new_page()
    page.goto("/login")
    page.evaluate("document.querySelector('form').append(document.createElement('input'))")
    with pytest.raises(AssertionError, match=r"label \(critical\)"):
        assert_no_violations(page, "sign-in with a field added")


# -- keyboard only ---------------------------------------------------------------------------

# The focused element shows a ring: it matches :focus-visible and has an outline or a box-shadow.
FOCUS_SHOWN = """el => {
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return el.matches(":focus-visible") && (outline || style.boxShadow !== "none");
}"""


def press_to(page: Page, target: Locator, key: str = "Tab", limit: int = 40) -> None:
    """Press Tab (or ``key``) until ``target`` has the focus; every element passed on the way,
    and the target, must show where the focus is."""
    target.wait_for()
    for _press in range(limit):
        page.keyboard.press(key)
        focused = page.locator(":focus")
        if focused.count():
            described = focused.evaluate("el => el.outerHTML.slice(0, 120)")
            assert focused.evaluate(FOCUS_SHOWN), f"no visible focus on {described} ({page.url})"
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} not reached with {limit} presses of {key}")


def test_the_focus_check_finds_a_hidden_focus(open_context: Callable[..., BrowserContext]) -> None:
    """The check itself can fail: a field whose focus ring is taken away is reported."""
    page = open_context().new_page()
    page.goto("/login")
    page.get_by_label("Password").evaluate("el => { el.style.outline = 'none'; el.style.boxShadow = 'none'; }")
    with pytest.raises(AssertionError, match="no visible focus"):
        press_to(page, page.get_by_label("Password"))


def test_the_whole_flow_by_keyboard_alone(open_context: Callable[..., BrowserContext]) -> None:
    """Create an account, set up 2FA, save the codes, sign out, sign in and verify: keys only."""
    page = open_context().new_page()
    keys = page.keyboard
    page.goto("/register")
    expect(page.get_by_label("Username")).to_be_focused()
    keys.type("alice")
    press_to(page, page.get_by_label("Password"))
    keys.type(PASSWORD)
    keys.press("Enter")
    expect(page.get_by_text("Signed in as alice")).to_be_visible()

    press_to(page, page.get_by_role("link", name="Set Up Two-Factor Authentication"))
    keys.press("Enter")
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_focused()
    keys.type(PASSWORD)
    keys.press("Enter")

    expect(page.get_by_role("heading", name="Set up two-factor authentication")).to_be_visible()
    expect(code_field(page)).to_be_focused()
    press_to(page, page.get_by_text("Can't scan it? Enter the key by hand"), key="Shift+Tab")
    keys.press("Enter")
    expect(page.locator("#manual-key")).to_be_visible()
    app = Authenticator(page.locator("#manual-key").inner_text().replace(" ", ""))
    press_to(page, code_field(page))
    keys.type(app.code())
    keys.press("Enter")

    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    press_to(page, page.get_by_label("I've saved the data"))
    keys.press("Space")
    press_to(page, page.get_by_role("button", name="Done"))
    keys.press("Enter")
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()

    press_to(page, page.get_by_role("button", name="Sign out"))
    keys.press("Enter")
    expect(page).to_have_url(re.compile("/login"))
    expect(page.get_by_label("Username")).to_be_focused()
    keys.type("alice")
    press_to(page, page.get_by_label("Password"))
    keys.type(PASSWORD)
    keys.press("Enter")

    expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    expect(code_field(page)).to_be_focused()
    keys.type(app.code())
    keys.press("Enter")
    expect(page).to_have_url(re.compile("/settings$"))
    expect(page.get_by_text("Signed in as alice")).to_be_visible()


# -- errors tied to their fields --------------------------------------------------------------

ERRORS = {
    "password confirmation, wrong password": "Password",
    "setup, wrong code": "Authentication code",
    "verify, wrong code": "Authentication code",
    "verify, locked out": "Authentication code",
}


@pytest.mark.parametrize("state", list(ERRORS))
def test_an_error_is_the_fields_description_and_the_field_has_the_focus(
    open_context: Callable[..., BrowserContext], state: str
) -> None:
    page = open_context().new_page()
    STATES[state][0](page)
    field = page.get_by_label(ERRORS[state], exact=True)
    error = page.get_by_role("alert")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(error.inner_text().strip())
    expect(field).to_be_focused()


def test_the_fields_are_not_marked_invalid_before_an_error(open_context: Callable[..., BrowserContext]) -> None:
    page = open_context().new_page()
    password_page(page)
    expect(page.get_by_label("Password")).not_to_have_attribute("aria-invalid", "true")
    confirm_password(page, PASSWORD)
    expect(code_field(page)).not_to_have_attribute("aria-invalid", "true")
    expect(code_field(page)).not_to_have_attribute("aria-describedby", re.compile("."))


# -- pasted codes ------------------------------------------------------------------------------


def paste(page: Page, field: Locator, text: str) -> None:
    """Put ``text`` on the clipboard and paste it into ``field`` with Ctrl+V, as a person would."""
    page.evaluate("text => navigator.clipboard.writeText(text)", text)
    field.focus()
    page.keyboard.press("ControlOrMeta+V")
    expect(field).to_have_value(text)


def test_pasted_codes_with_spaces_or_dashes_sign_in(
    open_context: Callable[..., BrowserContext], base_url: str
) -> None:
    context = open_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    register(page, "alice", PASSWORD)
    app = Authenticator(start_setup(page, PASSWORD).secret)
    field = code_field(page)
    assert field.get_attribute("pattern") is None, "a pattern would refuse a pasted 123-456"
    code = app.code()
    paste(page, field, f"{code[:3]} {code[3:]}")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = recovery_codes_on_page(page)
    page.get_by_label("I've saved the data").check()
    page.get_by_role("button", name="Done").click()

    page.goto("/_2fa/setup")  # a second app, its code with spaces around
    password_if_asked(page)
    second = app.another_app(added_app_secret(page))
    paste(page, code_field(page), f" {second.code()} ")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status").filter(has_text="The authenticator was added.")).to_be_visible()

    sign_out(page)
    sign_in(page, "alice", PASSWORD)
    code = app.code()
    paste(page, code_field(page), f"{code[:3]}-{code[3:]}")
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile("/settings$"))

    sign_out(page)
    sign_in(page, "alice", PASSWORD)  # a recovery code in capitals, a space for its dash
    paste(page, code_field(page), " " + codes[0].upper().replace("-", " ") + " ")
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile("/settings$"))


# -- status changes in live regions -------------------------------------------------------------


def test_copy_results_and_security_key_failures_are_announced(
    open_context: Callable[..., BrowserContext], base_url: str
) -> None:
    context = open_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    page = context.new_page()
    add_virtual_authenticator(page)
    register(page, "alice", PASSWORD)
    setup = start_setup(page, PASSWORD)
    code_field(page).fill(Authenticator(setup.secret).code())
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("status")).to_have_text("Copied")
    page.get_by_role("button", name="Done").click()

    new_token(page)
    status = page.get_by_role("status")
    expect(status).to_have_text("")
    page.get_by_role("button", name="Copy").click()
    expect(status).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#new-token").inner_text().strip()

    add_security_key(page, PASSWORD, "Key")
    expect(page.get_by_role("status").filter(has_text="The authenticator was added.")).to_be_visible()
    add_security_key(page, PASSWORD, "Key again")  # the same key again: the browser refuses it
    live = page.locator("#add-security-key [data-twofa-webauthn-status]")
    expect(live).to_have_attribute("role", "status")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("This security key is already registered.")

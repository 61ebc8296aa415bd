"""What a person does in the browser, step by step, shared by the browser tests and
``make screenshots``: every step finds its field or button by the visible label or
role, and every authentication code comes from Debian's ``oathtool``.

The 2FA pages' texts go through ``_()``: inside ``with speaking("de"):`` a step looks
for the words the German page shows (the shipped catalog's), so the same steps walk
the pages in any language. The example app's own pages stay English.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Locator, Page, expect

from twofa_middleware.i18n import ENGLISH, Language

PASSWORD = "correct horse battery staple"
CHROMIUM = os.environ.get("TWOFA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OATHTOOL = "oathtool"
PERIOD = 30  # seconds per TOTP step, the middleware's default

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def missing_parts() -> list[str]:
    """Why the browser tests cannot run here, if they cannot."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Debian's chromium not found at {CHROMIUM} (apt-get install chromium)")
    if shutil.which(OATHTOOL) is None:
        missing.append("Debian's oathtool not found (apt-get install oathtool)")
    return missing


def launch(playwright) -> Browser:  # type: ignore[no-untyped-def]
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# -- the language the 2FA pages are read in ---------------------------------------------

_spoken: ContextVar[Language | None] = ContextVar("spoken", default=None)


def _language() -> Language:
    return _spoken.get() or ENGLISH


@contextmanager
def speaking(name: str) -> Iterator[None]:
    """Within: the steps read the 2FA pages in shipped language ``name`` (``de``, ``ar``)."""
    token = _spoken.set(Language(name))
    try:
        yield
    finally:
        _spoken.reset(token)


def _(message: str) -> str:
    """A 2FA page's text as the page shows it in the language spoken: the catalog's translation."""
    return _language().gettext(message)


def pattern(message: str, plural: str | None = None) -> re.Pattern[str]:
    """The translation of ``message`` with any value in it (``%(num)s``) matching anything;
    with a ``plural``, any of the language's plural forms (Arabic has six)."""
    translations = _language().translations
    if plural is None:
        forms = {translations.gettext(message)}
    else:
        forms = {translations.ngettext(message, plural, n) for n in range(200)}
    alternatives = (".+?".join(re.escape(part) for part in re.split(r"%\(\w+\)s", form)) for form in forms)
    return re.compile("|".join(f"(?:{a})" for a in sorted(alternatives)))


# -- the authenticator app -----------------------------------------------------------


def oathtool(secret: str, at: float | None = None) -> str:
    """The code ``oathtool --totp`` prints for ``secret`` now, or at the time ``at``."""
    args = [OATHTOOL, "--totp", "-b", secret]
    if at is not None:
        args += ["--now", f"@{int(at)}"]
    code = subprocess.run(args, check=True, capture_output=True, text=True, timeout=10).stdout.strip()
    assert len(code) == 6 and code.isdigit(), f"oathtool printed {code!r}"
    return code


@dataclass
class SpentSteps:
    """The last time step a user spent: the server refuses it again from any of the user's apps."""

    last: int | None = None


@dataclass
class Authenticator:
    """A phone's authenticator app, played by oathtool.

    The server accepts each time step once per user (replays are refused, across
    all the user's apps) and one step either side of its clock. So each code
    handed out is for a step later than the last one the user spent: the current
    step, else the next one (which the server accepts as one step ahead), else we
    wait for the clock to get there. A user's second app comes from
    ``another_app`` so that both know the spent steps.
    """

    secret: str
    spent: SpentSteps = field(default_factory=SpentSteps)
    waited: float = field(default=0.0)

    @property
    def last_step(self) -> int | None:
        return self.spent.last

    def another_app(self, secret: str) -> Authenticator:
        """The same user's next authenticator app, sharing the steps already spent."""
        return Authenticator(secret, self.spent)

    def code(self) -> str:
        now = time.time()
        current = int(now) // PERIOD
        step = current if self.spent.last is None else max(current, self.spent.last + 1)
        if step > current + 1:
            # Waiting for the app to show a new code, as a person would; not an assertion.
            pause = (step - 1) * PERIOD - now + 0.05
            self.waited += pause
            time.sleep(pause)
        self.spent.last = step
        return oathtool(self.secret, at=step * PERIOD + PERIOD / 2)

    def last_code(self) -> str:
        """The code handed out last (to try using it twice)."""
        assert self.last_step is not None, "no code handed out yet"
        return oathtool(self.secret, at=self.last_step * PERIOD + PERIOD / 2)

    def wrong_code(self) -> str:
        """A six-digit code that no step near now produces."""
        current = int(time.time()) // PERIOD
        near = {oathtool(self.secret, at=(current + d) * PERIOD) for d in range(-2, 3)}
        candidate = int(oathtool(self.secret))
        while f"{candidate:06d}" in near:
            candidate = (candidate + 1) % 1_000_000
        return f"{candidate:06d}"


# -- same-origin check -----------------------------------------------------------------


def foreign_requests(urls: list[str], origin: str) -> list[str]:
    """The URLs that went to any host but the app's own (data: URLs are local)."""
    own = urlsplit(origin)
    bad = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        if (parts.scheme, parts.netloc) != (own.scheme, own.netloc):
            bad.append(url)
    return bad


def has_horizontal_scroll(page: Page) -> bool:
    return bool(
        page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    )


def overflowing(page: Page) -> list[str]:
    """The elements that stick out of the page's width on either side (why it scrolls sideways)."""
    return list(page.evaluate(
        """() => { const width = document.documentElement.clientWidth;
          const out = box => box.width > 0 && (box.right > width + 0.5 || box.left < -0.5);
          const found = [...document.body.querySelectorAll('*')]
            .filter(el => out(el.getBoundingClientRect())).map(el => el.outerHTML.slice(0, 100));
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(node);
            if (out(range.getBoundingClientRect())) found.push("text: " + node.textContent.trim().slice(0, 60));
          }
          return found; }"""
    ))


# -- the app's own pages -----------------------------------------------------------------


def register(page: Page, username: str, password: str) -> None:
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def sign_in(page: Page, username: str, password: str) -> None:
    """The app's own sign-in: the password step only."""
    if urlsplit(page.url).path != "/login":
        page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    if urlsplit(page.url).path != "/settings":
        page.goto("/settings")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))


def confirm_password(page: Page, password: str) -> None:
    expect(page.get_by_role("heading", name=_("Confirm your password"))).to_be_visible()
    page.get_by_label(_("Password")).fill(password)
    page.get_by_role("button", name=_("Confirm password")).click()


def code_field(page: Page) -> Locator:
    return page.get_by_label(_("Authentication code"))


# -- enrollment ----------------------------------------------------------------------------


@dataclass
class SetupPage:
    secret: str  # the manual key without its spaces
    grouped_secret: str
    otpauth_uri: str


def read_setup_page(page: Page) -> SetupPage:
    """Open "Can't scan it?" and read the key and the otpauth:// URI shown there."""
    expect(page.get_by_role("heading", name=_("Set up two-factor authentication"))).to_be_visible()
    key = page.locator("#manual-key")
    if not key.is_visible():
        page.get_by_text(_("Can't scan it? Enter the key by hand")).click()
    expect(key).to_be_visible()
    grouped = key.inner_text().strip()
    uri = page.locator("#otpauth-uri").inner_text().strip()
    return SetupPage(grouped.replace(" ", ""), grouped, uri)


def start_setup(page: Page, password: str) -> SetupPage:
    """From the app's settings to the setup page: Set Up..., then the password."""
    page.goto("/settings")
    page.get_by_role("link", name="Set Up Two-Factor Authentication").click()
    confirm_password(page, password)
    return read_setup_page(page)


def recovery_codes_on_page(page: Page) -> list[str]:
    """The unused codes listed on a recovery-codes page."""
    return [c.strip() for c in page.locator("#recovery-codes li code").all_inner_texts()]


def enroll(page: Page, password: str) -> tuple[Authenticator, list[str]]:
    """The whole enrollment with the checkbox ticked by hand; ends on the settings page."""
    setup = start_setup(page, password)
    app = Authenticator(setup.secret)
    code_field(page).fill(app.code())
    page.get_by_role("button", name=_("Next")).click()
    expect(page.get_by_role("heading", name=_("Save your recovery codes"))).to_be_visible()
    codes = recovery_codes_on_page(page)
    page.get_by_label(_("I've saved the data")).check()
    page.get_by_role("button", name=_("Done")).click()
    expect(page.get_by_text("Two-factor authentication is enabled.")).to_be_visible()  # the app's settings
    return app, codes


def verify_with(page: Page, code: str) -> None:
    expect(page.get_by_role("heading", name=_("Two-factor authentication"))).to_be_visible()
    code_field(page).fill(code)
    page.get_by_role("button", name=_("Verify")).click()


def tab_to(page: Page, target: Locator, limit: int = 30, key: str = "Tab") -> int:
    """Press Tab (or ``key``) until ``target`` has the focus; how many presses it took."""
    target.wait_for()
    for presses in range(limit + 1):
        if target.evaluate("el => el === document.activeElement"):
            return presses
        page.keyboard.press(key)
    raise AssertionError(f"{target} not reached with {limit} presses of {key}")


# -- security keys (with tests/browser/virtual_authenticator.py attached) ------------------


def add_security_key(page: Page, password: str, name: str) -> None:
    """From the account page: "Add a security key", the password if asked, a name, the touch."""
    page.goto("/_2fa/")
    link = page.get_by_role("link", name=_("Add a security key"))
    if link.count():
        link.click()
        confirm_password(page, password)
    page.get_by_label(_("Security key name")).fill(name)
    page.get_by_role("button", name=_("Add a security key")).click()


def use_security_key(page: Page) -> None:
    """On the verify page: "Use a security key" (the virtual key answers by itself)."""
    expect(page.get_by_role("heading", name=_("Two-factor authentication"))).to_be_visible()
    page.get_by_role("button", name=_("Use a security key")).click()

"""The catalogs (#16): the template is what the source marks, every shipped language is
complete, and every page and JSON message comes out in every shipped language.

Parametrized over :func:`twofa_middleware.languages.shipped`: a new catalog folder
is covered without touching this file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from werkzeug.test import Client, TestResponse

from twofa_middleware import TwoFactorMiddleware, languages
from twofa_middleware.errors import NotSaved, PasswordRequired, WrongPassword
from twofa_middleware.i18n import Language
from twofa_middleware.identity import Identity
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.store.base import DEFAULT_NAMES
from twofa_middleware.testing import FixedClock

from .helpers import KEY, PASSWORD, T0

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "twofa_middleware"
POT = PACKAGE / "locale" / "twofa.pot"
SHIPPED = languages.shipped()
TRANSLATED = [name for name in SHIPPED if name != "en"]


def _read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _entries(catalog: Catalog) -> dict[object, tuple[object, ...]]:
    """What a template says of each message, whatever the header or the order."""
    return {
        (m.id, m.context): (tuple(sorted(m.flags - {"fuzzy"})), tuple(m.auto_comments))
        for m in catalog if m.id
    }


def test_the_committed_template_is_what_the_source_marks(tmp_path: Path) -> None:
    """An unmarked text cannot be caught here, but a marked one missing from twofa.pot, or a
    stale one left in it, can: run ``make messages`` (the same extraction) and commit."""
    fresh = tmp_path / "twofa.pot"
    CommandLineInterface().run([  # the arguments of the Makefile's `messages` target
        "pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "N_", "-k", "Nn_:1,2",
        "--no-location", "--sort-output", "--add-comments=Translators:", "--project=twofa-middleware",
        "-o", str(fresh), str(PACKAGE),
    ])
    assert _entries(_read(fresh)) == _entries(_read(POT))


def test_english_and_at_least_one_translation_ship() -> None:
    assert SHIPPED[0] == "en" and TRANSLATED


@pytest.mark.parametrize("name", TRANSLATED)
def test_the_catalog_is_complete_and_consistent(name: str) -> None:
    template = _read(POT)
    catalog = _read(PACKAGE / "locale" / name / "LC_MESSAGES" / "twofa.po")
    ids = {m.id for m in template if m.id}
    assert {m.id for m in catalog if m.id} == ids, "run `make messages`, then translate what is new"
    assert not catalog.obsolete, "obsolete entries: run `make messages` (it drops them)"
    assert not catalog.fuzzy, "the header is marked fuzzy"
    plural = get_plural(name)
    assert (catalog.num_plurals, catalog.plural_expr) == (plural.num_plurals, plural.plural_expr)
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, f"fuzzy: {message.id!r}"
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(strings) == (catalog.num_plurals if message.pluralizable else 1), message.id
        assert all(s.strip() for s in strings), f"not translated: {message.id!r}"
        assert not list(message.check(catalog)), f"placeholders differ: {message.id!r}"
        for s in strings:  # the translation's own %(name)s, as the English has them
            english = message.id if isinstance(message.id, str) else message.id[1]
            assert set(re.findall(r"%\((\w+)\)", s)) <= set(re.findall(r"%\((\w+)\)", english)), s


# -- every page, in every language -------------------------------------------------------


class Browser:
    """One person's browser on the middleware, asking for pages in one language."""

    def __init__(self, mw: TwoFactorMiddleware, language: str, session: str) -> None:
        self.client = Client(mw)
        self.headers = {"Accept": "text/html", "Accept-Language": language.replace("_", "-"),
                        "X-Session": session, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
        self.json_headers = {**self.headers, "Accept": "application/json"}

    def get(self, path: str, **headers: str) -> TestResponse:
        return self.client.get(path, headers={**self.headers, **headers})

    def post(self, path: str, data: dict[str, str], csrf_from: TestResponse) -> TestResponse:
        return self.client.post(path, data={"csrf_token": _csrf(csrf_from), **data}, headers=self.headers)

    def api(self, path: str, body: dict[str, Any]) -> TestResponse:
        return self.client.post(path, json=body, headers=self.json_headers)


def _csrf(page: TestResponse) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match, "the page has no form"
    return html.unescape(match.group(1))


def _key(page: TestResponse) -> str:
    match = re.search(r'id="manual-key">([^<]+)<', page.get_data(as_text=True))
    assert match, "the setup page shows no key"
    return match.group(1).replace(" ", "")


def _middleware(clock: FixedClock, database: str = "sqlite://") -> TwoFactorMiddleware:
    def identify(environ: dict[str, Any]) -> Identity | None:
        session = environ.get("HTTP_X_SESSION")
        return Identity("alice", session, clock.now + 86400) if session else None

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the app"]

    return TwoFactorMiddleware(
        app, secret_key=KEY, store=SQLAlchemyStore(database), identify=identify, clock=clock,
        check_password=lambda user, password: password == PASSWORD, remember_days=30,
        recovery_codes_warn_below=10, logout_url="/logout", issuer="Example",
    )


def _walk(name: str) -> Iterator[tuple[str, TestResponse]]:
    """Every page and state a user meets, from signed out to locked out, in language ``name``."""
    clock = FixedClock(T0)
    mw = _middleware(clock)
    try:
        yield "signed out", Browser(mw, name, "").get("/_2fa/")
        me = Browser(mw, name, "s1")
        yield "account, 2FA off", me.get("/_2fa/")
        password_page = me.get("/_2fa/setup")
        yield "password", password_page
        yield "wrong password", me.post("/_2fa/confirm-password", {"password": "wrong", "next": "/_2fa/setup"},
                                        password_page)
        me.post("/_2fa/confirm-password", {"password": PASSWORD, "next": "/_2fa/setup"}, password_page)
        setup = me.get("/_2fa/setup")
        yield "setup", setup
        yield "setup, malformed code", me.post("/_2fa/setup", {"code": "12"}, setup)
        key = _key(setup)
        done = me.post("/_2fa/setup", {"code": pyotp.TOTP(key).at(clock.now), "name": "Phone"}, setup)
        assert done.status_code == 303, done.get_data(as_text=True)
        codes = me.get("/_2fa/setup/recovery-codes")
        yield "recovery codes at setup", codes
        recovery_code = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", codes.get_data(as_text=True))[0]
        yield "recovery codes not saved", me.post("/_2fa/setup/recovery-codes", {}, codes)
        yield "recovery codes", me.get("/_2fa/recovery-codes")
        yield "new recovery codes", me.get("/_2fa/recovery-codes?new=1")
        yield "recovery codes file", me.get("/_2fa/recovery-codes.txt")
        yield "regenerate?", me.get("/_2fa/recovery-codes/regenerate")
        yield "disable?", me.get("/_2fa/disable")
        adding = me.get("/_2fa/setup")
        yield "add an app", adding
        clock.advance(30)
        added = me.post("/_2fa/setup", {"code": pyotp.TOTP(_key(adding)).at(clock.now), "name": ""}, adding)
        assert added.status_code == 303, added.get_data(as_text=True)
        account = me.get(added.headers["Location"])
        yield "account, app added", account
        remove = re.search(r'href="([^"]*/authenticators/\d+/remove[^"]*)"', account.get_data(as_text=True))
        assert remove
        yield "remove?", me.get(html.unescape(remove.group(1)))
        tokens = me.get("/_2fa/tokens")
        yield "tokens, none", tokens
        yield "token refused", me.post("/_2fa/tokens", {"name": "ci", "expires_days": "x", "paths": ""}, tokens)
        yield "token created", me.post("/_2fa/tokens", {"name": "ci", "expires_days": "30", "paths": "/api"}, tokens)
        yield "tokens", me.get("/_2fa/tokens")
        yield "not found", me.get("/_2fa/no-such-page")
        yield "JSON not found", me.get("/_2fa/no-such-page", Accept="application/json")
        yield "JSON unknown field", me.api("/_2fa/api/verify", {"code": "1", "typo": 1})

        other = Browser(mw, name, "s2")  # a new sign-in: the second factor is owed
        yield "JSON verify first", other.get("/_2fa/api/recovery-codes", Accept="application/json")
        verify = other.get("/_2fa/verify")
        yield "verify", verify
        yield "verify, wrong code", other.post("/_2fa/verify", {"code": "zzzzz-zzzzz"}, verify)
        clock.advance(30)
        signed_in = other.post("/_2fa/verify", {"code": pyotp.TOTP(key).at(clock.now), "remember": "on"}, verify)
        assert signed_in.status_code == 303, signed_in.get_data(as_text=True)
        yield "account, trusted browser", other.get("/_2fa/")

        fourth = Browser(mw, name, "s4")  # with a recovery code: one fewer left, below the warning
        verify = fourth.get("/_2fa/verify")
        low = fourth.post("/_2fa/verify", {"code": recovery_code}, verify)
        assert low.status_code == 303, low.get_data(as_text=True)
        yield "account, few codes", fourth.get(low.headers["Location"])

        third = Browser(mw, name, "s3")
        page = third.get("/_2fa/verify")
        for _ in range(6):  # the threshold's worth of wrong codes, then one more
            page = third.post("/_2fa/verify", {"code": "000000"}, page)
        yield "locked out", page
        yield "JSON locked out", third.api("/_2fa/api/verify", {"code": "000000"})
        yield "JSON password first", other.api("/_2fa/api/recovery-codes/regenerate", {})
    finally:
        mw.service.store.dispose()


@pytest.fixture(scope="module", params=SHIPPED)
def pages(request: pytest.FixtureRequest) -> tuple[Language, dict[str, TestResponse]]:
    return Language(request.param), dict(_walk(request.param))


def _t(language: Language, message: str, **values: object) -> str:
    text = language.gettext(message)
    return text % values if values else text


def _ngettext(language: Language, singular: str, plural: str, n: int, **values: object) -> str:
    return language.translations.ngettext(singular, plural, n) % {"count": language.number(n), **values}


# (page, a sentence it shows): each must appear in the page's language.
EXPECTED: list[tuple[str, str]] = [
    ("signed out", "Sign in to the application, then come back."),
    ("account, 2FA off", "Protect your account with a code from an authenticator app as well as your password."),
    ("password", ("This is a sensitive step. Confirm your password to continue; you won't be asked again "
                 "for a few minutes.")),
    ("wrong password", WrongPassword.message),
    ("setup", ("Use an authenticator app such as Google Authenticator, Microsoft Authenticator or 1Password "
              "to scan this code.")),
    ("setup", "Can't scan it? Enter the key by hand"),
    ("setup, malformed code", "Scan the QR code"),
    ("recovery codes at setup", "Save your recovery codes"),
    ("recovery codes at setup", "I've saved the data"),
    ("recovery codes not saved", NotSaved.message),
    ("recovery codes", ("If you lose your phone, each of these codes lets you sign in once. Keep them somewhere "
                       "safe, such as a password manager.")),
    ("new recovery codes", "Your old recovery codes no longer work."),
    ("regenerate?", "Generate new recovery codes?"),
    ("disable?", ("Your account will be protected by your password alone. Your authenticator app and recovery "
                 "codes will stop working for this account.")),
    ("add an app", ("Any of your authenticators will then pass the second step at sign-in. Your recovery codes "
                   "stay as they are.")),
    ("account, app added", "The authenticator was added."),
    ("account, app added", "Two-factor authentication is enabled."),
    ("remove?", ("You will no longer be able to sign in with it. Your other authenticators and your recovery "
                "codes keep working.")),
    ("tokens, none", "You have no personal access tokens."),
    ("token refused", "Expiry must be a whole number of days."),
    ("token created", "Copy your new token now. You won't be able to see it again."),
    ("tokens", "Limit to paths (optional, separated by spaces)"),
    ("not found", "There is nothing at this address."),
    ("verify", ("Open your authenticator app and enter the code for %(issuer)s. Lost your phone? Enter one "
               "of your recovery codes instead.")),
    ("verify", ("No phone and no recovery codes? Sign out, then ask an administrator to reset two-factor "
               "authentication.")),
    ("verify, wrong code", "That recovery code is not valid or has already been used."),
    ("account, trusted browser", ("These browsers sign you in without a code. Revoke any you do not recognise "
                                 "or no longer use.")),
    ("account, trusted browser", "(This browser)"),
]


@pytest.mark.parametrize("page, sentence", EXPECTED, ids=[f"{p}: {s[:30]}" for p, s in EXPECTED])
def test_each_page_speaks_the_language(
    pages: tuple[Language, dict[str, TestResponse]], page: str, sentence: str
) -> None:
    language, seen = pages
    text = html.unescape(seen[page].get_data(as_text=True))
    translated = language.gettext(sentence)
    if language.name != "en":
        assert translated != sentence, f"{sentence!r} is not translated"
    if "%(issuer)s" in sentence:
        translated = translated % {"issuer": "Example"}
    assert translated in text, f"{page}: {translated!r} not shown"


def test_every_page_names_its_language_and_direction(pages: tuple[Language, dict[str, TestResponse]]) -> None:
    language, seen = pages
    direction = "rtl" if Locale.parse(language.name).text_direction == "rtl" else "ltr"
    for page, response in seen.items():
        assert response.headers["Content-Language"] == language.tag, page
        assert "Accept-Language" in response.headers.get("Vary", ""), page
        if response.mimetype == "text/html":
            assert f'<html lang="{language.tag}" dir="{direction}">' in response.get_data(as_text=True), page


def test_plurals_numbers_and_dates_are_the_languages(pages: tuple[Language, dict[str, TestResponse]]) -> None:
    language, seen = pages
    warning = _ngettext(
        language, "Only %(count)s recovery code left. Generate new codes so you can still sign in if you lose "
        "your phone.", "Only %(count)s recovery codes left. Generate new codes so you can still sign in if you "
        "lose your phone.", 9,
    )
    assert warning in html.unescape(seen["account, few codes"].get_data(as_text=True))
    account = html.unescape(seen["account, app added"].get_data(as_text=True))
    added = re.search(r'<time datetime="([^"]+)">([^<]+)</time>', account)
    assert added and added.group(2) == language.datetime(T0)  # Babel's medium format for the language
    verify = html.unescape(seen["verify"].get_data(as_text=True))
    remember = language.translations.ngettext(
        "Remember this browser for %(count)s day", "Remember this browser for %(count)s days", 30
    ) % {"count": language.number(30)}
    assert remember in verify
    locked = html.unescape(seen["locked out"].get_data(as_text=True))
    assert language.translations.ngettext(
        "Too many wrong codes. Try again in %(num)s second.", "Too many wrong codes. Try again in %(num)s seconds.",
        30,
    ) % {"num": language.number(30)} in locked
    codes_file = seen["recovery codes file"].get_data(as_text=True)
    assert codes_file.startswith(_t(language, "%(issuer)s recovery codes for %(account)s",
                                    issuer="Example", account="alice"))


def test_json_messages_are_translated_and_codes_are_not(pages: tuple[Language, dict[str, TestResponse]]) -> None:
    language, seen = pages
    expected = {
        "JSON not found": ("not_found", _t(language, "There is nothing at this address.")),
        "JSON unknown field": ("invalid_request", _t(language, "Unknown field %(field)s.", field="'typo'")),
        "JSON verify first": ("two_factor_required", _t(language, "Verify with your second factor first.")),
        "JSON password first": ("password_required", _t(language, PasswordRequired.message)),
        "JSON locked out": ("locked", None),
    }
    for page, (code, message) in expected.items():
        body = seen[page].json
        assert body["error"] == code, page
        if message is not None:
            assert body["message"] == message, page
    locked = seen["JSON locked out"].json
    assert locked["message"] == language.translations.ngettext(
        "Too many wrong codes. Try again in %(num)s second.", "Too many wrong codes. Try again in %(num)s seconds.",
        locked["retry_after"],
    ) % {"num": language.number(locked["retry_after"])}


def test_an_authenticator_named_nothing_is_named_in_the_language(
    pages: tuple[Language, dict[str, TestResponse]],
) -> None:
    """Its stored name is the English default; the page shows it translated, and "Phone" as the user typed it."""
    language, seen = pages
    account = html.unescape(seen["account, app added"].get_data(as_text=True))
    default = language.gettext(DEFAULT_NAMES["totp"])
    if language.name != "en":
        assert default != DEFAULT_NAMES["totp"], "the default name is not translated"
    assert re.findall(r'<strong class="tf-authenticator-name">([^<]*)</strong>', account) == ["Phone", default]
    remove = html.unescape(seen["remove?"].get_data(as_text=True))
    assert language.gettext("Remove \u201c%(name)s\u201d?") % {"name": "Phone"} in remove


def test_the_scripts_words_come_from_the_page(pages: tuple[Language, dict[str, TestResponse]]) -> None:
    language, seen = pages
    codes = html.unescape(seen["recovery codes"].get_data(as_text=True))
    assert f'data-text-copied="{language.gettext("Copied")}"' in codes
    account = html.unescape(seen["account, app added"].get_data(as_text=True))
    assert f'data-text-touch-add="{language.gettext("Touch your security key to add it.")}"' in account
    for script in ("twofa.js", "twofa-webauthn.js"):
        source = (PACKAGE / "web" / "static" / script).read_text()
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("//"))
        assert not re.search(r'"[A-Z][a-z]+ [a-z]+[^"]*\."', code), f"{script} has a sentence of its own"


def test_the_style_sheet_mirrors_for_right_to_left_languages() -> None:
    """Logical properties only (``margin-inline-start``, ``text-align: start``): with
    ``dir="rtl"`` the whole layout mirrors, with nothing written for one direction."""
    css = (PACKAGE / "web" / "static" / "twofa.css").read_text()
    physical = re.findall(r"[\w-]*(?:left|right)[\w-]*\s*:|:\s*(?:left|right)\b", css)
    assert not physical, f"physical directions in twofa.css: {physical}"


def test_requests_in_two_languages_at_once_keep_their_own(tmp_path: Path) -> None:
    """The templates' Environment is shared: each render must use its own request's catalog."""
    from concurrent.futures import ThreadPoolExecutor

    mw = _middleware(FixedClock(T0), f"sqlite:///{tmp_path}/twofa.db")  # one database for every thread
    wanted = [SHIPPED[i % len(SHIPPED)] for i in range(40)]

    def heading(name: str) -> tuple[str, str]:
        page = Browser(mw, name, "s1").get("/_2fa/").get_data(as_text=True)
        match = re.search(r'<html lang="([^"]+)".*?<h1>(.*?)</h1>', page, re.DOTALL)
        assert match
        return match.group(1), match.group(2)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            seen = list(pool.map(heading, wanted))
    finally:
        mw.service.store.dispose()
    for name, (tag, title) in zip(wanted, seen, strict=True):
        language = Language(name)
        assert (tag, title) == (language.tag, language.gettext("Two-factor authentication"))

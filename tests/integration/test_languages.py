"""The language of the 2FA pages and JSON answers over real HTTP (#16): Accept-Language,
the app's ``locale(environ)`` before it, English for anything else."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.helpers import SECRET_KEY, serve
from twofa_middleware import TwoFactorMiddleware
from twofa_middleware.i18n import catalog
from twofa_middleware.identity import Identity
from twofa_middleware.store import SQLAlchemyStore

from .flows import enrolled_user, form_fields, sign_in, wrong_code

GERMAN_TITLE = "<h1>Zwei-Faktor-Authentifizierung</h1>"


def h1(page: str) -> str:
    match = re.search(r"<h1>.*?</h1>", page)
    assert match, "the page has no heading"
    return match.group(0)


def test_accept_language_de_gives_german_pages_and_json_messages(live_app: Any) -> None:
    s, key, _ = enrolled_user(live_app, "anna")
    s.headers["Accept-Language"] = "de-DE,de;q=0.9,en;q=0.5"
    account = s.get(live_app.url + "/_2fa/")
    assert account.status_code == 200 and h1(account.text) == GERMAN_TITLE
    assert '<html lang="de" dir="ltr">' in account.text
    # In the example's own layout too, the page opens with its doctype (nothing of the built-in frame before it).
    assert account.text.lstrip().lower().startswith("<!doctype html>")
    assert "Die Zwei-Faktor-Authentifizierung ist aktiviert." in account.text
    assert account.headers["Content-Language"] == "de" and "Accept-Language" in account.headers["Vary"]

    refused = s.post(live_app.url + "/_2fa/api/confirm-password", json={"password": "wrong"},
                     headers={"Accept": "application/json"})
    assert refused.status_code == 403
    assert refused.json() == {"error": "invalid_password", "message": "Dieses Passwort ist nicht richtig."}

    other = live_app.session()  # the same user signing in elsewhere owes the second factor
    other.headers["Accept-Language"] = "de"
    sign_in(live_app, other, "anna")
    verify = other.get(live_app.url + "/_2fa/verify")
    wrong = other.post(live_app.url + "/_2fa/verify", data={**form_fields(verify.text), "code": wrong_code(key)})
    assert "Dieser Code ist nicht gültig." in wrong.text
    api = other.get(live_app.url + "/_2fa/api/recovery-codes", headers={"Accept": "application/json"})
    assert api.json()["error"] == "two_factor_required"  # the code stays English and stable
    assert api.json()["message"] == "Bestätigen Sie sich zuerst mit Ihrem zweiten Faktor."


@pytest.mark.parametrize("header", ["", "xx-YY", "de;q=0", "!!!,;;;q=", "*", "../de", "de" * 600])
def test_junk_or_no_accept_language_gives_english(live_app: Any, header: str) -> None:
    s, _, _ = enrolled_user(live_app, "bert")
    account = s.get(live_app.url + "/_2fa/", headers={"Accept-Language": header})
    assert h1(account.text) == "<h1>Two-factor authentication</h1>"
    assert '<html lang="en" dir="ltr">' in account.text and account.headers["Content-Language"] == "en"


@pytest.fixture
def app_with_locale() -> Iterator[str]:
    """A bare app whose users chose their language in it (here: a ``lang`` cookie)."""

    def identify(environ: dict[str, Any]) -> Identity | None:
        return Identity("carla", "s1") if "sid=1" in environ.get("HTTP_COOKIE", "") else None

    def locale(environ: dict[str, Any]) -> str | None:
        match = re.search(r"lang=([\w-]+)", environ.get("HTTP_COOKIE", ""))
        return match.group(1) if match else None

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"app"]

    store = SQLAlchemyStore("sqlite://")
    mw = TwoFactorMiddleware(app, secret_key=SECRET_KEY, store=store, identify=identify,
                             check_password=lambda user, password: False, locale=locale)
    url, server, thread = serve(mw)
    try:
        yield url
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)
        store.dispose()


def get(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10)


def test_the_apps_locale_wins_over_the_header(app_with_locale: str) -> None:
    def page(cookie: str, accept_language: str) -> requests.Response:
        headers = {"Accept": "text/html", "Cookie": cookie, "Accept-Language": accept_language}
        return get(app_with_locale + "/_2fa/", **headers)

    german_app = page("sid=1; lang=de", "en")
    assert h1(german_app.text) == GERMAN_TITLE and german_app.headers["Content-Language"] == "de"
    assert h1(page("sid=1; lang=en", "de").text) == "<h1>Two-factor authentication</h1>"
    # A language the middleware does not ship: the header decides.
    assert h1(page("sid=1; lang=tlh", "de").text) == GERMAN_TITLE
    signed_out = get(app_with_locale + "/_2fa/api/status", Cookie="lang=de")
    assert signed_out.status_code == 401
    assert signed_out.json() == {"error": "not_signed_in", "message": "Melden Sie sich zuerst an."}


# -- the default authenticator name (#16): stored in English, shown in the reader's language ---------


def names_on(page: str) -> list[str]:
    """The authenticators' names as the account page lists them."""
    return re.findall(r'<strong class="tf-authenticator-name">([^<]*)</strong>', page)


def test_a_never_renamed_authenticator_is_named_in_the_readers_language(live_app: Any) -> None:
    s, _, _ = enrolled_user(live_app, "dora")
    account = live_app.url + "/_2fa/"

    def page(language: str) -> str:
        return str(s.get(account, headers={"Accept-Language": language}).text)

    german = page("de")
    assert names_on(german) == ["Authentifizierungs-App"]
    assert 'required value="Authentifizierungs-App"' in german  # the rename field holds what the page shows
    arabic_default = catalog("ar").gettext("Authenticator app")
    assert arabic_default != "Authenticator app" and names_on(page("ar")) == [arabic_default]
    assert names_on(page("en")) == ["Authenticator app"]
    listed = s.get(live_app.url + "/_2fa/api/authenticators", headers={"Accept": "application/json",
                                                                        "Accept-Language": "de"})
    assert [a["name"] for a in listed.json()["authenticators"]] == ["Authenticator app"]  # the stored data

    # One imported under the default name, then the first renamed by its user.
    service = live_app.middleware.service
    assert service.import_totp("dora", base64.b32encode(os.urandom(20)).decode(), "Authenticator app", 0) == "imported"
    first = re.search(r'action="([^"]*/authenticators/\d+/rename)"', german)
    assert first
    renamed = s.post(live_app.url + first.group(1), data={**form_fields(german, first.group(1)), "name": "Telefon"})
    assert renamed.status_code == 200 and urlsplit(renamed.url).path == "/_2fa/"
    german = page("de")
    assert names_on(german) == ["Telefon", "Authentifizierungs-App"]
    assert names_on(page("en")) == ["Telefon", "Authenticator app"]
    removes = re.findall(r'aria-label="([^"]*entfernen)"', german)
    assert removes == ["Telefon entfernen", "Authentifizierungs-App entfernen"]
    remove = re.findall(r'href="([^"]*/authenticators/\d+/remove[^"]*)"', german)[-1].replace("&amp;", "&")
    confirm = s.get(live_app.url + remove, headers={"Accept-Language": "de"})
    assert confirm.status_code == 200 and h1(confirm.text) == "<h1>\u201eAuthentifizierungs-App\u201c entfernen?</h1>"

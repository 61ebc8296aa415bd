"""Steps of the user flows over real HTTP, as a person takes them: register, sign in,
set up, verify. Shared by test_flows and test_security."""

from __future__ import annotations

import html
import re
import time

import pyotp
import requests

from tests.helpers import alert_of, manual_key_of, recovery_codes_of

PASSWORD = "correct horse battery staple"


def now_code(key: str) -> str:
    return pyotp.TOTP(key).at(time.time())


def next_code(key: str) -> str:
    return pyotp.TOTP(key).at(time.time() + 30)


def wrong_code(key: str) -> str:
    """Six digits that match no time step near now, not even as clock drift."""
    totp = pyotp.TOTP(key)
    near = {totp.at(time.time() + 30 * d) for d in range(-22, 23)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)


def href_of(page: str, text: str) -> str:
    match = re.search(r'<a [^>]*href="([^"]+)"[^>]*>\s*' + re.escape(text) + r"\s*</a>", page)
    assert match, f"page has no link {text!r}"
    return html.unescape(match.group(1))


def form_fields(page: str, action: str | None = None) -> dict[str, str]:
    """The hidden fields of the form (posting to ``action``, when given)."""
    forms = re.findall(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', page, re.DOTALL)
    for form_action, body in forms:
        if action is None or html.unescape(form_action) == action:
            return {
                html.unescape(n): html.unescape(v)
                for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
            }
    raise AssertionError(f"page has no form posting to {action!r}")


def form_action(page: str) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', page)
    assert match, "page has no form"
    return html.unescape(match.group(1))


def register(live, name: str, password: str = PASSWORD) -> requests.Session:
    s = live.session()
    page = s.get(live.url + "/register")
    assert "Create account" in page.text
    r = s.post(live.url + "/register", data={"username": name, "password": password})
    assert r.status_code == 200 and r.url == live.url + "/settings"
    return s


def sign_out(live, s: requests.Session) -> None:
    r = s.post(live.url + "/logout")
    assert r.url == live.url + "/login"
    assert "Signed in as" not in r.text


def sign_in(live, s: requests.Session, name: str, password: str = PASSWORD) -> requests.Response:
    """Password step only; returns where the app sent the user (not following redirects)."""
    r = s.post(live.url + "/login", data={"username": name, "password": password, "next": "/settings"},
               allow_redirects=False)
    assert r.status_code == 302, r.text
    return r


def confirm_password(live, s: requests.Session, page: requests.Response, password: str = PASSWORD):
    assert "Confirm your password" in page.text
    return s.post(live.url + form_action(page.text), data={**form_fields(page.text), "password": password})


def enroll(live, s: requests.Session, password: str = PASSWORD) -> tuple[str, list[str]]:
    """Set up 2FA from the settings page; returns the manual key and the recovery codes."""
    settings = s.get(live.url + "/settings")
    setup = s.get(live.url + href_of(settings.text, "Set Up Two-Factor Authentication"))
    if "Confirm your password" in setup.text:
        setup = confirm_password(live, s, setup, password)
    key = manual_key_of(setup.text)
    codes_page = s.post(live.url + "/_2fa/setup",
                        data={**form_fields(setup.text, "/_2fa/setup"), "code": now_code(key)})
    assert codes_page.status_code == 200, alert_of(codes_page.text)
    codes = recovery_codes_of(codes_page.text)
    done = s.post(live.url + "/_2fa/setup/recovery-codes",
                  data={**form_fields(codes_page.text, "/_2fa/setup/recovery-codes"), "saved": "on"})
    assert done.url == live.url + "/settings"
    return key, codes


def verify(live, s: requests.Session, code: str, next_path: str = "/settings") -> requests.Response:
    """Post a code on the verify page; returns the answer without following redirects."""
    page = s.get(live.url + "/_2fa/verify", params={"next": next_path})
    assert page.status_code == 200, page.status_code
    return s.post(live.url + "/_2fa/verify", data={**form_fields(page.text), "code": code},
                  allow_redirects=False)


def signed_in_again(live, s: requests.Session, name: str) -> None:
    """Sign out and in: the second factor is owed again."""
    sign_out(live, s)
    sign_in(live, s, name)


def enrolled_user(live, name: str = "alice") -> tuple[requests.Session, str, list[str]]:
    s = register(live, name)
    key, codes = enroll(live, s)
    return s, key, codes


def is_challenged(live, s: requests.Session) -> bool:
    r = s.get(live.url + "/settings", allow_redirects=False)
    if r.status_code == 200:
        return False
    assert r.status_code == 303 and r.headers["Location"].startswith("/_2fa/verify"), r.status_code
    return True

"""The Django example over a real server: the JSON API flow, tokens as Django users, a
password change, "Sign out" under Django's CSRF protection, and misconfigurations that
fail closed."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import LiveApp, csrf_of

from .api_support import PASSWORD, ApiClient, bearer, use_clock
from .django_support import live_django, off_loop, restore_clock, unique

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def django_app() -> Iterator[LiveApp]:
    live = live_django()
    restore = restore_clock(live)
    yield live
    restore()


def enrolled(live: LiveApp, name: str) -> tuple[ApiClient, object]:
    """A registered user with 2FA on, signed in and verified."""
    clock = use_clock(live)
    client = ApiClient(live.url)
    client.register(name)
    app, _codes = client.enable(clock)
    return client, app


def test_json_flow_challenges_api_me_until_the_code(django_app: LiveApp) -> None:
    client = ApiClient(django_app.url)
    name = unique("dora")
    client.register(name)
    assert client.me().json() == {"user": name}
    clock = use_clock(django_app)
    app, codes = client.enable(clock)
    assert len(codes) == 10
    assert client.me().json() == {"user": name}  # this sign-in enrolled: already past the factor

    client.login()
    r = client.me()
    assert r.status_code == 401 and r.json()["error"] == "two_factor_required"
    assert client.get("/status").json()["verified"] is False
    assert client.verify(app.wrong_code()).status_code == 400
    assert client.me().status_code == 401
    assert client.verify(app.code()).status_code == 200
    r = client.me()
    assert r.status_code == 200 and r.json() == {"user": name}


def test_a_personal_access_token_reaches_the_app_as_its_owner(django_app: LiveApp) -> None:
    owner, _app = enrolled(django_app, unique("tok"))
    owner.sudo()
    _id, token = owner.create_token("script")

    r = bearer(django_app.url, token, "/api/me")
    assert r.status_code == 200 and r.json() == {"user": owner.user}
    # Someone else's session riding along changes nothing: the token is the whole sign-in.
    other = ApiClient(django_app.url)
    other.register(unique("other"))
    r = bearer(django_app.url, token, "/api/me", Cookie="; ".join(f"{k}={v}" for k, v in other.http.cookies.items()))
    assert r.status_code == 200 and r.json() == {"user": owner.user}
    # Django's CSRF check does not stand between a token and a POST (no browser sends one cross-site).
    r = requests.post(django_app.url + "/api/logout", json={}, headers={"Authorization": f"Bearer {token}"},
                      timeout=10)
    assert r.status_code == 200, r.text

    bad = bearer(django_app.url, token[:-2] + "xx", "/api/me")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"


def test_a_password_change_keeps_the_verified_sign_in_and_a_new_sign_in_owes_the_code(
    django_app: LiveApp,
) -> None:
    client, app = enrolled(django_app, unique("pw"))
    client.login()
    assert client.verify(app.code()).status_code == 200  # type: ignore[attr-defined]
    old_session = client.http.cookies.get("sessionid")

    r = client.request("POST", "/api/password", json={"old_password": PASSWORD, "new_password": "a new password 2"})
    assert r.status_code == 200, r.text
    assert client.http.cookies.get("sessionid") != old_session  # Django cycled the session key...
    assert client.me().status_code == 200  # ...and the second factor still counts

    client.login(password="a new password 2")
    assert client.me().status_code == 401  # a new sign-in is a new one for the middleware


def _html_sign_in(url: str, name: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    s.headers["Accept"] = "text/html"
    page = s.get(url + "/login")
    refused = s.post(url + "/login", data={"username": name, "password": PASSWORD})
    assert refused.status_code == 403  # Django's CSRF protection is on
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token
    r = s.post(url + "/login", data={"csrfmiddlewaretoken": token.group(1), "username": name,
                                     "password": PASSWORD, "next": "/settings"})
    return s, r


def test_sign_out_from_the_verify_page_works_with_django_csrf_on(django_app: LiveApp) -> None:
    client, _app = enrolled(django_app, unique("out"))
    s, r = _html_sign_in(django_app.url, str(client.user))
    assert r.url.startswith(django_app.url + "/_2fa/verify?next=/settings")
    form = re.search(r'<form method="post" action="([^"]+)" class="tf-signout">', r.text)
    assert form and form.group(1) == "/_2fa/sign-out"

    out = s.post(django_app.url + "/_2fa/sign-out", data={"csrf_token": csrf_of(r.text)}, allow_redirects=False)
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    set_cookies = out.raw.headers.getlist("Set-Cookie")
    assert any(c.strip().startswith('sessionid=""') for c in set_cookies), set_cookies  # Django's
    for ours in ("twofa_verified=", "twofa_sudo="):  # and the middleware's, each its own header
        assert any(c.strip().startswith(ours) for c in set_cookies), set_cookies
    assert "sessionid" not in s.cookies
    me = s.get(django_app.url + "/api/me", headers={"Accept": "application/json"})
    assert me.status_code == 401 and me.json() == {"error": "not_signed_in"}

    # Without the middleware's own CSRF token the sign-out is refused, and nobody is signed out.
    s2, _ = _html_sign_in(django_app.url, str(client.user))
    forged = s2.post(django_app.url + "/_2fa/sign-out", data={"csrf_token": "forged"}, allow_redirects=False)
    assert forged.status_code in (400, 403)
    assert s2.get(django_app.url + "/_2fa/verify").url.startswith(django_app.url + "/_2fa/verify")


# -- failing closed -----------------------------------------------------------------------------


def test_the_guard_judges_a_user_signed_in_after_the_middleware(django_app: LiveApp) -> None:
    """A middleware after ours (SSO, remote user...) switching ``request.user``: judged again, challenged."""
    client, _app = enrolled(django_app, unique("late"))

    def run() -> tuple[int, bytes, list[str]]:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import AnonymousUser
        from django.contrib.sessions.backends.db import SessionStore
        from django.http import HttpResponse
        from django.test import RequestFactory

        from twofa_middleware.integrations.django.middleware import TwoFactorMiddleware

        reached: list[str] = []

        def later_middleware_then_view(request):  # type: ignore[no-untyped-def]
            request.user = get_user_model().objects.get(username=client.user)
            refused = middleware.process_view(request, None, (), {})
            if refused is not None:
                return refused
            reached.append("view")
            return HttpResponse("secret")

        middleware = TwoFactorMiddleware(later_middleware_then_view)
        request = RequestFactory().get("/api/me", HTTP_ACCEPT="application/json")
        request.session = SessionStore()
        request.user = AnonymousUser()
        response = middleware(request)
        return response.status_code, response.content, reached

    status, body, reached = off_loop(run)
    assert status == 401 and json.loads(body)["error"] == "two_factor_required"
    assert reached == []


def test_a_request_without_django_user_is_a_500_with_one_log_line(
    django_app: LiveApp, caplog: pytest.LogCaptureFixture
) -> None:
    def run() -> tuple[int, list[str]]:
        from django.http import HttpResponse
        from django.test import RequestFactory

        from twofa_middleware.integrations.django.middleware import TwoFactorMiddleware

        reached: list[str] = []
        middleware = TwoFactorMiddleware(lambda request: reached.append("app") or HttpResponse("app"))
        response = middleware(RequestFactory().get("/settings"))
        return response.status_code, reached

    with caplog.at_level(logging.ERROR, logger="twofa_middleware"):
        status, reached = off_loop(run)
    assert status == 500 and reached == []
    lines = [r.getMessage() for r in caplog.records if r.name == "twofa_middleware"]
    assert len(lines) == 1 and "AuthenticationMiddleware" in lines[0]


MISCONFIGURED = """
import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ours = "twofa_middleware.integrations.django.middleware.TwoFactorMiddleware"
auth = "django.contrib.auth.middleware.AuthenticationMiddleware"
apps = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
settings.configure(
    SECRET_KEY="x" * 50,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=apps + ([] if CASE == "not-installed" else ["twofa_middleware.integrations.django"]),
    MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"]
    + ([ours, auth] if CASE == "order" else [auth, ours]),
    ROOT_URLCONF="examples.django_app.urls",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    TWOFA={"database_url": "sqlite://"},
)
django.setup()
from django.core import checks
print("CHECK", [e.id for e in checks.run_checks() if e.id.startswith("twofa")])
from django.core.wsgi import get_wsgi_application
try:
    get_wsgi_application()
except ImproperlyConfigured as exc:
    print("REFUSED", exc)
else:
    print("STARTED")
"""


@pytest.mark.parametrize(
    "case, expected",
    [
        ("order", "after 'django.contrib.auth.middleware.AuthenticationMiddleware' in MIDDLEWARE"),
        ("not-installed", "add 'twofa_middleware.integrations.django' to INSTALLED_APPS"),
    ],
)
def test_a_misconfigured_project_does_not_start(case: str, expected: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    script = f"CASE = {case!r}\n" + textwrap.dedent(MISCONFIGURED)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env,
                          cwd=ROOT, check=False)
    # manage.py check says so too, when the app is installed to register its check
    expected_check = "CHECK []" if case == "not-installed" else "CHECK ['twofa.E001']"
    assert expected_check in done.stdout, done.stdout + done.stderr
    assert "STARTED" not in done.stdout
    refused = [line for line in done.stdout.splitlines() if line.startswith("REFUSED")]
    assert refused and expected in refused[0], done.stdout + done.stderr


@pytest.mark.parametrize("path", ["/_2fa/%ff", "/_2fa/api/%ff", "/_2fa/verify%80", "/caf%ff"])
def test_a_path_that_is_not_utf8_is_a_4xx_never_a_500(path: str) -> None:
    """Django puts its decoded path (U+FFFD for bad bytes) in META; werkzeug raised on it
    (attacker's review)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(live_django().url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.putrequest("GET", path)
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    assert 400 <= response.status < 500


def test_2fa_state_follows_the_account_not_its_name(django_app: LiveApp) -> None:
    """Keyed by the primary key: renaming an account keeps its second factor, and a new
    account given the old name inherits neither its 2FA nor its tokens (attacker's review)."""
    from django.contrib.auth import get_user_model

    name = unique("renamed")
    client, _app = enrolled(django_app, name)
    client.sudo()
    _, token = client.create_token("script")
    user = off_loop(lambda: get_user_model().objects.get(username=name))
    user.username = name + "-later"
    off_loop(user.save)

    newcomer = ApiClient(django_app.url)
    newcomer.register(name)  # the old name, a new account
    assert newcomer.get("/status").json()["enabled"] is False
    r = bearer(django_app.url, token, "/api/me")
    assert r.status_code == 200 and r.json() == {"user": name + "-later"}

    client.login(name + "-later")
    assert client.me().status_code == 401  # still owes the code after the rename

"""End to end, adversarial: real nginx, gunicorn and Node in front of each other.

Each test names one class of bypass and sends it over real sockets, byte for
byte, to two stacks: nginx with README's forward-auth snippet (``nginx``) and
the reverse proxy under gunicorn (``proxy``). The Node app (``upstream.js``)
knows nothing of 2FA: whatever reaches it with a session is served, so "the
app never saw this request" is the property under test, read from the app's
own request log.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from .helpers import Raw, get, location_path, unique, user_header_values

pytestmark = pytest.mark.e2e

ODD_NAMES = ["admin\r\nX-Pad: 1", "Łukasz", "山田"]
ODD_IDS = ["crlf", "polish", "japanese"]


def reached_app(stack, before: int) -> list[str]:
    """What reached the app since ``before`` with someone signed in (the middleware's
    who-am-I calls aside). A request passed on with no credential left is harmless:
    the app sees an anonymous visitor."""
    return [e["target"] for e in stack.node.requests()[before:] if e["user"] is not None and e["target"] != "/api/me"]


def assert_refused(stack, r: Raw, before: int, what: str) -> None:
    assert r.status != 200, f"{what}: {r}"
    assert b"SECRET" not in r.body, f"{what}: the app's page came back: {r}"
    assert reached_app(stack, before) == [], f"{what}: the app was reached: {r}"


# -- repeated Cookie header lines -------------------------------------------------------


@pytest.mark.parametrize("order", ["decoy-first", "session-first"])
def test_repeated_cookie_lines_do_not_skip_the_second_factor(stack, order):
    """``Cookie: x=y`` and ``Cookie: sid=...`` on two lines: nginx and Node join them
    with "; ", gunicorn with ",": whichever way, the app never serves the session
    of a user who still owes the second factor."""
    user = stack.enrolled(unique("rc"))
    lines = [("Cookie", "x=y"), ("Cookie", f"sid={user.sid}")]
    if order == "session-first":
        lines.reverse()
    for target in ("/secret", "/api/x"):
        before = len(stack.node.targets())
        r = get(stack.url, target, *lines, ("Accept", "text/html"))
        assert_refused(stack, r, before, f"{target} with {lines}")
        if stack.mode == "nginx":  # the README's config: a 303 to the verify page
            assert r.status == 303, r
            assert location_path(r, stack.url).startswith("/_2fa/verify?next="), r
    # A page the app serves to anyone: it may come back, but never as the user's.
    r = get(stack.url, "/echo", *lines, ("Accept", "text/html"))
    assert r.status in (200, 303) or 400 <= r.status < 500, r
    if r.status == 200:
        echo = r.json()
        assert echo["session_user"] is None and echo["x_twofa_user"] is None, echo


def test_repeated_cookie_lines_still_work_for_a_user_without_2fa_through_nginx(nginx_stack):
    """The README's ``proxy_set_header Cookie $http_cookie`` joins the lines for the judge and the app alike."""
    stack = nginx_stack
    user = stack.user(unique("plain"))
    r = get(stack.url, "/secret", ("Cookie", "x=y"), ("Cookie", f"sid={user.sid}"))
    assert r.status == 200 and r.text == f"SECRET for {user.name}", r
    echo = get(stack.url, "/echo", ("Cookie", "x=y"), ("Cookie", f"sid={user.sid}")).json()
    assert echo["cookie"] == f"x=y; sid={user.sid}"
    assert echo["session_user"] == user.name


# -- paths the judge and the app would read differently ------------------------------------

AMBIGUOUS = [
    "/secret/..;/_2fa/",
    "/secret/..%5c_2fa/",
    "/secret/..\\_2fa/",
    "/secret/..;/logout",
    "/secret/..;/assets/x",
    "/secret/%2e%2e/x",
    "/secret;x/",
    "//secret",
    "/secret%2f..%2fx",
]


@pytest.mark.parametrize("target", AMBIGUOUS)
def test_ambiguous_paths_never_reach_the_app_for_an_unverified_user(stack, target):
    """The judge must not resolve ``..;``, ``\\`` or encoded dots into the 2FA mount or an
    exempt path while the app (routing the raw target) serves /secret: refuse them."""
    user = stack.enrolled(unique("path"))
    before = len(stack.node.targets())
    r = get(stack.url, target, ("Cookie", f"sid={user.sid}"), ("Accept", "text/html"))
    assert_refused(stack, r, before, target)


@pytest.mark.parametrize("order", ["decoy-first", "session-first"])
def test_the_forward_auth_judge_refuses_cookie_lines_joined_behind_its_back(nginx_stack, order):
    """Finding 1 as review found it: nginx without the joined Cookie line passes both
    lines on, gunicorn joins them with ",", who-am-I read ``x=y,sid=S`` as nobody and
    the judge said 200 while the app read the session. Asked directly with two lines,
    the judge now refuses: it cannot know how the app will join them."""
    stack = nginx_stack
    user = stack.enrolled(unique("joined"))
    lines = [("Cookie", "x=y"), ("Cookie", f"sid={user.sid}")]
    if order == "session-first":
        lines.reverse()
    r = get(stack.twofa_url, "/_twofa_auth", ("X-Original-URI", "/secret"), ("X-Original-Method", "GET"), *lines)
    assert r.status == 403, r
    assert r.json()["error"] == "ambiguous_request", r
    assert r.header("X-Twofa-User") is None, r


DOT_SEGMENTS = ["/secret/..;/_2fa/", "/secret/..%5c_2fa/", "/secret/..\\_2fa/", "/secret/..;/logout",
                "/secret/%2e%2e/x", "/secret%2f..%2fx"]


@pytest.mark.parametrize("uri", DOT_SEGMENTS)
def test_the_forward_auth_judge_refuses_paths_with_dot_segments(nginx_stack, uri):
    """Asked directly, as nginx asks it: a URI whose path has ``.`` or ``..`` segments once
    decoded (``..;``, ``\\`` as ``/`` too) is refused with 403 (which nginx passes on),
    never resolved and judged."""
    stack = nginx_stack
    user = stack.enrolled(unique("judge"))
    for headers in ([("Cookie", f"sid={user.sid}")], []):  # an unverified user, and nobody
        r = get(stack.twofa_url, "/_twofa_auth", ("X-Original-URI", uri), ("X-Original-Method", "GET"), *headers)
        assert r.status == 403, (uri, headers, r)
        assert r.header("X-Twofa-User") is None and r.header("X-Twofa-Verify-Url") is None, r


def test_exempt_paths_and_the_app_still_work_for_an_unverified_user(stack):
    user = stack.enrolled(unique("exempt"))
    cookie = ("Cookie", f"sid={user.sid}")
    r = get(stack.url, "/logout", cookie)
    assert r.status == 200 and r.text == "logged out", r
    r = get(stack.url, "/assets/x", cookie)
    assert r.status == 200 and r.text == "asset /assets/x", r
    before = len(stack.node.targets())
    r = get(stack.url, "/secret", cookie, ("Accept", "text/html"))
    assert_refused(stack, r, before, "/secret")
    assert r.status == 303 and location_path(r, stack.url) == "/_2fa/verify?next=/secret", r


TOKEN_ESCAPES = ["/secret/..;/api/x", "/secret/..%5capi/x", "/secret/..\\api/x", "/secret/%2e%2e/api/x"]


@pytest.mark.parametrize("target", TOKEN_ESCAPES)
def test_a_token_limited_to_api_does_not_reach_other_paths(stack, target):
    """A token for ``/api`` only: ``/api/x`` works, ``/secret/..;/api/x`` (judged as
    /api/x, served by the app as a page under /secret) must not."""
    user = stack.user(unique("tok"))
    token = user.create_token(paths=["/api"])
    bearer = ("Authorization", f"Bearer {token}")
    r = get(stack.url, "/api/x", bearer)
    assert r.status == 200 and r.text == f"SECRET for {user.name}", r
    before = len(stack.node.targets())
    r = get(stack.url, "/secret", bearer)
    assert_refused(stack, r, before, "/secret")
    before = len(stack.node.targets())
    r = get(stack.url, target, bearer)
    assert_refused(stack, r, before, target)


# -- X-Twofa-User ----------------------------------------------------------------------------


def assert_user_header(stack, echo: dict, name: str) -> None:
    names = [n.lower() for n, _ in echo["raw_headers"]]
    assert "x-pad" not in names, f"the user name split the header: {echo['raw_headers']}"
    assert names.count("x-twofa-user") <= 1, echo["raw_headers"]
    value = echo["x_twofa_user"]
    assert value in user_header_values(name), f"X-Twofa-User {value!r} for {name!r}"
    assert unquote(value, encoding="utf-8", errors="strict") == name


@pytest.mark.parametrize("name", ODD_NAMES, ids=ODD_IDS)
def test_a_token_users_name_reaches_the_app_percent_encoded(stack, name):
    """X-Twofa-User is the user name percent-encoded as UTF-8: a CR LF cannot add a
    header, a non-Latin-1 name cannot make the server fail (a 500)."""
    user = stack.user(name)
    token = user.create_token()
    r = get(stack.url, "/echo", ("Authorization", f"Bearer {token}"))
    assert r.status == 200, r
    echo = r.json()
    assert echo["authorization"] is None and echo["session_user"] is None
    assert_user_header(stack, echo, name)


@pytest.mark.parametrize("name", ODD_NAMES, ids=ODD_IDS)
def test_a_verified_session_user_with_an_odd_name_gets_through(stack, name):
    name = f"{unique('s')}.{name}"  # not the token test's user: that one has no 2FA
    user = stack.enrolled(name)
    before = len(stack.node.targets())
    r = get(stack.url, "/secret", ("Cookie", user.cookie_header()), ("Accept", "text/html"))
    assert_refused(stack, r, before, "/secret before the second factor")
    user.verify_api()
    r = get(stack.url, "/echo", ("Cookie", user.cookie_header()))
    assert r.status == 200, r
    echo = r.json()
    assert echo["session_user"] == name
    if stack.mode == "nginx" or echo["x_twofa_user"] is not None:
        assert_user_header(stack, echo, name)
    r = get(stack.url, "/secret", ("Cookie", user.cookie_header()))
    assert r.status == 200 and r.body == f"SECRET for {name}".encode(), r


def test_a_clients_own_x_twofa_user_never_reaches_the_app(stack):
    """The app trusts X-Twofa-User: a client's copy must be replaced or removed, for
    anonymous visitors, signed-in users and token callers alike."""
    victim = "admin"
    spoof = ("X-Twofa-User", victim)
    echo = get(stack.url, "/echo", spoof).json()
    assert echo["x_twofa_user"] is None, echo
    before = len(stack.node.targets())
    r = get(stack.url, "/secret", spoof)
    assert r.status == 401 and r.text == "sign in first", r  # the app's own answer to nobody
    assert reached_app(stack, before) == [], r

    user = stack.user(unique("spoof"))
    echo = get(stack.url, "/echo", spoof, ("Cookie", f"sid={user.sid}")).json()
    assert echo["session_user"] == user.name and echo["x_twofa_user"] in (None, user.name), echo
    token = user.create_token()
    echo = get(stack.url, "/echo", spoof, ("Authorization", f"Bearer {token}")).json()
    assert echo["x_twofa_user"] == user.name, echo
    names = [n.lower() for n, _ in echo["raw_headers"]]
    assert names.count("x-twofa-user") == 1, echo["raw_headers"]


# -- the way it should work ------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, backend",
    [("nginx", "sqlite"), pytest.param("nginx", "postgres", marks=pytest.mark.postgres), ("proxy", "sqlite")],
)
def test_verified_happy_path_through_the_pages(stacks, mode, backend):
    """Sign in at the app, turn 2FA on, sign in again: /secret sends the browser to the
    verify page (through nginx's /_2fa/ location), the code brings it back, the app serves it."""
    stack = stacks(mode, backend)
    user = stack.enrolled(unique("happy"))
    r = user.request("GET", "/secret", headers={"Accept": "text/html"})
    assert r.status_code == 303, (r.status_code, r.text[:300])
    verify_url = location_path(r, stack.url)
    assert verify_url == "/_2fa/verify?next=/secret"
    r = user.request("GET", "/api/x", headers={"Accept": "application/json"})
    assert r.status_code in (303, 401) and "SECRET" not in r.text, (r.status_code, r.text[:300])

    r = user.verify_page(verify_url)
    assert r.status_code == 303, (r.status_code, r.text[:500])
    assert location_path(r, stack.url) == "/secret"
    r = user.request("GET", "/secret")
    assert r.status_code == 200 and r.text == f"SECRET for {user.name}", (r.status_code, r.text[:300])
    status = user.api("GET", "/status").json()
    assert status["enabled"] is True and status["verified"] is True

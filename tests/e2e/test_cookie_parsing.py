"""Cookie headers that parsers read differently, found by the attacker's review.

A quoted cookie value swallows ``; sid=Y ;`` for werkzeug, not for an Express-style
parser: werkzeug saw ``sid=X``, Node ``sid=Y``. Forward auth bound the second
factor to werkzeug's reading while the app served its own, so a verified cookie
of an earlier sign-in X rode a new sign-in Y. The judge now refuses any Cookie
header that is not plain RFC 6265; a byte that is not UTF-8 is a 4xx, never a 500.
"""

from __future__ import annotations

import pytest

from .helpers import get, unique

pytestmark = pytest.mark.e2e


def _served(stack, before):
    return [e for e in stack.node.requests()[before:] if e["target"] == "/secret" and e["user"] is not None]


def test_an_old_verified_cookie_cannot_ride_a_new_sign_in_through_a_quoted_value(nginx_stack):
    stack = nginx_stack
    user = stack.enrolled(unique("victim"))
    user.verify_api()  # an earlier sign-in X passed the second factor
    old_sid, verified = user.sid, user.http.cookies["twofa_verified"]
    user.login()  # a new sign-in Y with the password only: the code is owed
    new_sid = user.sid
    assert get(stack.url, "/secret", ("Cookie", f"sid={new_sid}; twofa_verified={verified}")).status == 303

    crafted = f'a="x; sid={new_sid} ; b="; sid={old_sid}; twofa_verified={verified}'
    before = len(stack.node.requests())
    r = get(stack.url, "/secret", ("Cookie", crafted))
    assert r.status != 200 and b"SECRET" not in r.body, f"served without the code: {r}"
    assert _served(stack, before) == []


def test_a_crafted_header_cannot_bind_the_second_factor_to_a_value_that_is_no_session(nginx_stack):
    """Passing the code with such a header once yielded a verified cookie bound to a
    constant, good for every later sign-in for 12 hours: it is refused instead."""
    stack = nginx_stack
    user = stack.enrolled(unique("detached"))
    assert user.app is not None
    crafted = f'a="x; sid={user.sid} ; b="; sid=constant'
    r = user.http.post(stack.url + "/_2fa/api/verify", json={"code": user.app.code()},
                       headers={"Cookie": crafted}, timeout=10)
    assert r.status_code == 400 and r.json()["error"] == "ambiguous_request", r.text
    assert "twofa_verified" not in r.cookies


@pytest.mark.parametrize("path", ["/secret", "/_2fa/api/status"])
def test_a_cookie_byte_that_is_not_utf8_is_a_4xx_never_a_5xx(stack, path):
    user = stack.user(unique("bytes"))  # no 2FA: the proxy may serve it, forward auth refuses the header
    r = get(stack.url, path, ("Cookie", f"sid={user.sid}; x=\xe9"), ("Accept", "application/json"))
    assert r.status < 500, r

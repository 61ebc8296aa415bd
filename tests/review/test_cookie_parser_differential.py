"""Review PoC: forward auth binds the second factor to the session cookie as *werkzeug*
reads it, while the app (and who-am-I) read the same header with their own parser.

A quoted cookie value swallows ``; sid=Y ;`` for werkzeug, not for an Express-style
parser: werkzeug sees ``sid=X``, Node sees ``sid=Y``. Whoever holds a verified
cookie of an earlier sign-in X (12 h) and the password signs in again (Y) and is
served without the code, even though Y never passed the second factor.
"""

from __future__ import annotations

import pytest

from tests.e2e.helpers import get, unique

pytestmark = pytest.mark.e2e


def _served(stack, before):
    return [e for e in stack.node.requests()[before:] if e["target"] == "/secret" and e["user"] is not None]


def test_old_verified_cookie_rides_a_new_sign_in(nginx_stack):
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


def test_verified_cookie_bound_to_a_value_that_is_no_session(nginx_stack):
    """The session key is whatever werkzeug reads, not the app's session: a verify done
    with a crafted header yields a verified cookie bound to a constant, good for every
    later sign-in of that user for 12 hours."""
    stack = nginx_stack
    user = stack.enrolled(unique("detached"))
    assert user.app is not None
    crafted = f'a="x; sid={user.sid} ; b="; sid=constant'
    r = user.http.post(stack.url + "/_2fa/api/verify", json={"code": user.app.code()},
                       headers={"Cookie": crafted}, timeout=10)
    assert r.status_code == 200, r.text
    verified = r.cookies["twofa_verified"]
    user.login()  # any later sign-in
    before = len(stack.node.requests())
    r = get(stack.url, "/secret", ("Cookie", f'a="x; sid={user.sid} ; b="; sid=constant; twofa_verified={verified}'))
    assert r.status != 200 and b"SECRET" not in r.body, f"served without the code: {r}"
    assert _served(stack, before) == []

"""Trusted browsers across instances: two middlewares, each with its own engine and long
caches, on one database. A revocation in one holds in the other at the next sign-in."""

from __future__ import annotations

import json
import time

import pyotp
from werkzeug.test import Client

from twofa_middleware import TwoFactorMiddleware
from twofa_middleware.identity import Identity

KEY = "postgres-trusted-browsers-key-0123456789"


def identify(environ):
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == "sid" and ":" in value:
            user, nonce = value.split(":", 1)
            return Identity(user, nonce)
    return None


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"in"]


def instance(store) -> TwoFactorMiddleware:
    return TwoFactorMiddleware(app, secret_key=KEY, store=store, identify=identify,
                               check_password=lambda u, p: True, cache_seconds=30, remember_days=30)


def test_a_browser_revoked_in_one_instance_owes_the_code_at_once_in_the_other(make_store):
    one, two = instance(make_store()), instance(make_store())
    secret = one.service.enrollment("alice").secret
    totp = pyotp.TOTP(secret)
    one.service.confirm_enrollment("alice", totp.now())
    browser_one, browser_two = Client(one), Client(two)
    browser_one.set_cookie("sid", "alice:1")
    body = {"code": totp.at(time.time() + 30), "remember": True}  # the next step: enrollment spent this one
    r = browser_one.post("/_2fa/api/verify", data=json.dumps(body), content_type="application/json")
    assert r.status_code == 200 and r.json["remembered"] is True
    trusted = browser_one.get_cookie(one.cookies.trusted_name).value
    browser_two.set_cookie("sid", "alice:2")  # a new sign-in, in the same browser, served by the other instance
    browser_two.set_cookie(two.cookies.trusted_name, trusted)
    assert browser_two.get("/", headers={"Accept": "text/html"}).status_code == 200  # spared by the other instance

    assert one.forget_browsers("alice") == 1
    browser_two.delete_cookie(two.cookies.verified_name)
    browser_two.set_cookie("sid", "alice:4")  # a new sign-in, on the instance that cached everything it could
    assert browser_two.get("/", headers={"Accept": "text/html"}).status_code == 303

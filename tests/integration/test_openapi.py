"""The OpenAPI document: served, well formed, complete, and true of real responses.

Every API response in test_api.py and test_tokens.py is also validated against
it (see api_support.ApiClient); here the document itself is checked, and one
tour calls every operation and checks what comes back.
"""

from __future__ import annotations

import re

import requests
from jsonschema import Draft202012Validator
from werkzeug.test import Client

from tests.unit.test_security_keys import SoftKey
from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.identity import Identity

from .api_support import API, ApiClient, Authenticator, openapi, openapi_document, use_clock
from .security_key_support import add_key, localhost, sign_in_with


def test_the_document_is_served_to_anyone(live_app):
    r = requests.get(live_app.url + f"{API}/openapi.json", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    served = r.json()
    assert served["servers"] == [{"url": API}]
    assert {**served, "servers": None} == {**openapi_document(), "servers": None}


def test_the_document_is_openapi_3_1_with_valid_schemas():
    doc = openapi_document()
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    # Every $ref points at something.
    refs = re.findall(r'"\$ref": "(#[^"]+)"', str(doc).replace("'", '"'))
    assert refs
    for ref in set(refs):
        openapi().resolve(ref)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            assert op["operationId"] and op["responses"], (method, path)
            assert "200" in op["responses"] or "201" in op["responses"], (method, path)


def test_every_api_route_is_documented_and_every_documented_route_exists(live_app):
    web = live_app.middleware.web
    routed = set()
    for rule in web.urls.map.iter_rules():
        if rule.rule.startswith(API + "/"):
            path = re.sub(r"<[^:>]+:(\w+)>|<(\w+)>", lambda m: "{id}", rule.rule[len(API):])
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routed.add((method.lower(), path))
    documented = {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert routed == documented


def test_a_tour_of_every_operation_matches_the_document(live_app):
    """Each call is validated by the client; here we also make sure every operation was called."""
    clock = use_clock(live_app)
    seen: set[tuple[str, str, int]] = set()
    c = ApiClient(localhost(live_app.url))  # security keys refuse IP hosts
    original = c.request

    def recording(method: str, path: str, **kwargs):  # type: ignore[no-untyped-def]
        r = original(method, path, **kwargs)
        if path.startswith(API):
            found = openapi().operation(path[len(API):], method)
            if found:
                seen.add((method.lower(), found[0], r.status_code))
        return r

    c.request = recording  # type: ignore[method-assign]
    c.register("tour")
    c.get("/status")
    c.post("/enroll")  # 403 password_required
    c.sudo()
    secret = c.post("/enroll").json()["secret"]
    app = Authenticator(secret, clock)
    c.post("/enroll/confirm", {"code": "12"})  # 400
    codes = c.post("/enroll/confirm", {"code": app.code()}).json()["recovery_codes"]
    c.get("/recovery-codes")
    (only,) = c.get("/authenticators").json()["authenticators"]
    c.api("PATCH", f"/authenticators/{only['id']}", {"name": "Phone"})
    c.api("DELETE", f"/authenticators/{only['id']}")  # 409 last_authenticator
    key = SoftKey()
    add_key(c, key, "Key")  # register begin 200, finish 201
    token_id = c.post("/tokens", {"name": "t", "paths": ["/api"]}).json()["id"]
    c.get("/tokens")
    c.api("DELETE", f"/tokens/{token_id}")
    c.api("DELETE", f"/tokens/{token_id}")  # 404
    c.post("/recovery-codes/regenerate")
    c.api("POST", "/disable", data="x", headers={"Content-Type": "text/plain"})  # 415
    c.post("/disable", {"confirm": True})  # 422
    c.login()
    c.get("/tokens")  # 401 two_factor_required
    c.verify(codes[0])  # old codes: 400
    good = app.code()
    for _ in range(5):
        c.verify(app.wrong_code())
    c.verify(good)  # 429 locked
    clock.advance(60)
    assert c.post("/verify", {"code": app.code(), "remember": True}).json()["remembered"] is True
    [browser] = c.get("/browsers").json()["browsers"]
    c.api("DELETE", f"/browsers/{browser['id']}")
    c.api("DELETE", f"/browsers/{browser['id']}")  # 404
    c.api("DELETE", "/browsers")
    c.verify(app.code())
    c.login()
    sign_in_with(c, key)  # sign-in begin 200, finish 200
    c.sudo()
    c.post("/disable")
    c.verify("123456")  # 409 not_enabled
    c.get("/openapi.json")

    operations = {(m, p) for m, p, _ in seen}
    documented = {
        (m, p) for p, item in openapi_document()["paths"].items() for m in item if m != "parameters"
    }
    assert operations == documented
    statuses = {s for _, _, s in seen}
    assert {200, 201, 400, 401, 403, 404, 409, 415, 422, 429} <= statuses


def test_the_servers_entry_follows_the_mount(tmp_path):
    middleware = TwoFactorMiddleware(
        lambda environ, start_response: [],
        secret_key="k" * 32,
        store=SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db"),
        identify=lambda environ: Identity("u", "s"),
        check_password=lambda user_id, password: False,
        mount="/account/security",
    )
    try:
        r = Client(middleware).get("/account/security/api/openapi.json")
        assert r.status_code == 200
        assert r.get_json()["servers"] == [{"url": "/account/security/api"}]
    finally:
        middleware.service.store.dispose()

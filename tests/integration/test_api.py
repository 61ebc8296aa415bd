"""The JSON API over the real server, driven with requests only, as an API caller would."""

from __future__ import annotations

import pytest

from twofa_middleware.testing import FixedClock

from .api_support import API, PASSWORD, ApiClient, Authenticator, use_clock


@pytest.fixture
def clock(live_app) -> FixedClock:
    return use_clock(live_app)


@pytest.fixture
def client(live_app) -> ApiClient:
    c = ApiClient(live_app.url)
    c.register("alice")
    return c


@pytest.fixture
def enabled(client: ApiClient, clock: FixedClock) -> tuple[ApiClient, Authenticator, list[str]]:
    """alice with 2FA on, freshly signed in again: the second factor is owed."""
    app, codes = client.enable(clock)
    client.login()
    return client, app, codes


def test_full_flow_sign_in_enroll_verify(live_app, clock):
    c = ApiClient(live_app.url)
    c.register("alice")
    assert c.me().json() == {"user": "alice"}
    assert c.get("/status").json() == {
        "enabled": False, "verified": True, "recovery_codes_left": 0, "locked_until": None
    }

    r = c.post("/enroll")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    r = c.post("/confirm-password", {"password": "wrong"})
    assert (r.status_code, r.json()["error"]) == (403, "invalid_password")
    r = c.post("/confirm-password", {"password": PASSWORD})
    assert r.status_code == 200 and "twofa_sudo" in r.headers["Set-Cookie"]

    r = c.post("/enroll")
    assert r.status_code == 200
    enrollment = r.json()
    assert enrollment["otpauth_uri"].startswith("otpauth://totp/")
    assert enrollment["secret"] in enrollment["otpauth_uri"]
    assert enrollment["qr_svg"].startswith("<svg")
    assert c.get("/status").json()["enabled"] is False  # nothing enabled yet
    assert c.post("/enroll").json()["secret"] == enrollment["secret"]  # the same pending secret

    app = Authenticator(enrollment["secret"], clock)
    r = c.post("/enroll/confirm", {"code": app.code()})
    assert r.status_code == 200
    assert r.json()["enabled"] is True and len(r.json()["recovery_codes"]) == 10
    assert "twofa_verified" in r.headers["Set-Cookie"]
    assert c.me().json() == {"user": "alice"}  # enrolling proved the second factor

    c.login()
    r = c.me()
    assert r.status_code == 401
    assert r.json()["error"] == "two_factor_required"
    assert r.json()["verify_url"] == f"{API[:-4]}/verify"
    assert c.get("/status").json() == {
        "enabled": True, "verified": False, "recovery_codes_left": 10, "locked_until": None
    }

    r = c.verify(app.code())
    assert r.json() == {"verified": True, "method": "totp"}
    assert c.me().json() == {"user": "alice"}
    assert c.get("/status").json()["verified"] is True


def test_a_totp_code_works_once(enabled):
    c, app, _ = enabled
    code = app.code()
    assert c.verify(code).status_code == 200
    c.login()
    r = c.verify(code)
    assert (r.status_code, r.json()["error"]) == (409, "code_reused")
    assert c.me().status_code == 401


def test_a_recovery_code_verifies_once(enabled):
    c, _, codes = enabled
    r = c.verify(codes[0].upper().replace("-", " "))  # case, spaces and dashes ignored
    assert r.json() == {"verified": True, "method": "recovery"}
    assert c.me().status_code == 200
    assert c.get("/status").json()["recovery_codes_left"] == 9

    c.login()
    r = c.verify(codes[0])
    assert (r.status_code, r.json()["error"]) == (400, "invalid_code")
    assert c.verify(codes[1]).status_code == 200
    c.sudo()
    listed = c.get("/recovery-codes").json()["codes"]
    assert [x["code"] for x in listed] == codes
    assert [x["used"] for x in listed] == [True, True] + [False] * 8


def test_regenerating_kills_the_old_codes_at_once(enabled):
    c, app, old = enabled
    assert c.verify(app.code()).status_code == 200
    r = c.get("/recovery-codes")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    r = c.post("/recovery-codes/regenerate")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    c.sudo()
    new = c.post("/recovery-codes/regenerate").json()["recovery_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert [x["code"] for x in c.get("/recovery-codes").json()["codes"]] == new

    c.login()
    assert c.verify(old[0]).json()["error"] == "invalid_code"
    assert c.verify(new[0]).json()["method"] == "recovery"


def test_wrong_codes_lock_with_retry_after(enabled, clock):
    c, app, _ = enabled
    good = app.code()  # taken first: the authenticator moves the clock to a fresh step
    for _ in range(4):
        r = c.verify(app.wrong_code())
        assert (r.status_code, r.json()["error"]) == (400, "invalid_code")
    r = c.verify(app.wrong_code())  # the fifth locks
    assert r.status_code == 400
    r = c.verify(good)  # even a right code waits
    assert (r.status_code, r.json()["error"]) == (429, "locked")
    assert r.json()["retry_after"] == 30 and r.headers["Retry-After"] == "30"
    assert c.get("/status").json()["locked_until"] is not None
    clock.advance(31)
    assert c.get("/status").json()["locked_until"] is None
    assert c.verify(app.code()).json()["method"] == "totp"


def test_disable_needs_the_password_and_ends_the_second_factor(enabled):
    c, app, _ = enabled
    assert c.verify(app.code()).status_code == 200
    r = c.post("/disable")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    c.sudo()
    r = c.post("/disable")
    assert r.json() == {"enabled": False}
    assert c.get("/status").json()["enabled"] is False
    r = c.post("/disable")
    assert (r.status_code, r.json()["error"]) == (409, "not_enabled")
    c.login()
    assert c.me().json() == {"user": "alice"}  # no second factor any more
    r = c.verify(app.code())
    assert (r.status_code, r.json()["error"]) == (409, "not_enabled")


def test_enroll_when_enabled_starts_one_more_authenticator(enabled):
    c, app, _ = enabled
    c.verify(app.code())
    c.sudo()
    r = c.post("/enroll")
    assert r.status_code == 200 and r.json()["secret"] != app.totp.secret
    assert c.get("/status").json()["enabled"] is True


# Everything but status and verify is closed to a session owing the second factor.
OWING_FACTOR_CLOSED = [
    pytest.param("POST", "/confirm-password", {"password": PASSWORD}, id="confirm-password"),
    pytest.param("POST", "/enroll", {}, id="enroll"),
    pytest.param("POST", "/enroll/confirm", {"code": "123456"}, id="enroll-confirm"),
    pytest.param("GET", "/recovery-codes", None, id="recovery-codes"),
    pytest.param("POST", "/recovery-codes/regenerate", {}, id="regenerate"),
    pytest.param("POST", "/disable", {}, id="disable"),
    pytest.param("GET", "/tokens", None, id="tokens-list"),
    pytest.param("POST", "/tokens", {"name": "x"}, id="tokens-create"),
    pytest.param("DELETE", "/tokens/1", None, id="tokens-revoke"),
]


@pytest.mark.parametrize("method, path, body", OWING_FACTOR_CLOSED)
def test_a_session_owing_the_second_factor_gets_only_status_and_verify(enabled, method, path, body):
    c, _, _ = enabled
    r = c.api(method, path, body)
    assert r.status_code == 401
    assert r.json()["error"] == "two_factor_required"
    assert r.json()["verify_url"] == f"{API}/verify"
    assert c.get("/status").status_code == 200


@pytest.mark.parametrize("method, path, body", [*OWING_FACTOR_CLOSED,
    pytest.param("GET", "/status", None, id="status"),
    pytest.param("POST", "/verify", {"code": "123456"}, id="verify"),
])
@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_signed_out_callers_get_json_401(live_app, method, path, body, accept):
    c = ApiClient(live_app.url)
    r = c.api(method, path, body, headers={"Accept": accept})
    assert r.status_code == 401
    assert r.json()["error"] == "not_signed_in"


def test_a_cross_site_form_post_is_refused(client):
    client.sudo()
    r = client.api("POST", "/disable", data="confirm=1",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.json()["error"]) == (415, "unsupported_media_type")


def test_unknown_api_paths_and_methods_answer_json(client):
    client.validate = False  # not operations of the document
    r = client.request("GET", f"{API}/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.request("POST", f"{API}/status", json={})
    assert r.status_code == 405 and "GET" in r.headers["Allow"] and r.json()["error"]


def test_api_answers_carry_the_security_headers(client):
    r = client.get("/status")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Content-Type-Options"] == "nosniff"


# -- malformed bodies: 4xx with an error, never 5xx, and nothing changes ----------------

COMMON_MALFORMED = [  # (Content-Type, raw body, status)
    ("text/plain", b"{}", 415),
    ("application/x-www-form-urlencoded", b"code=123456&password=x&name=x", 415),
    ("multipart/form-data; boundary=b", b"--b--\r\n", 415),
    (None, b"{}", 415),
    ("application/json", b"", 400),
    ("application/json", b"not json", 400),
    ("application/json", b"{", 400),
    ("application/json", b"[]", 400),
    ("application/json", b'"text"', 400),
    ("application/json", b"1", 400),
    ("application/json", b"null", 400),
    ("application/json", b"true", 400),
    ("application/json", b'{"a": NaN}', 400),
    ("application/json", b'{"a": Infinity}', 400),
    ("application/json", b'{"a": 1, "a": 2}', 400),
    ("application/json", b'{"a": "\xff\xfe"}', 400),
    ("application/json", b"[" * 30000 + b"]" * 30000, 400),
    ("application/json", b'{"a": ' + b"1" * 5000 + b"}", 400),
    ("application/json", b'{"unknown_field": 1}', 422),
    ("application/json", b'{"a": "' + b"x" * 70000 + b'"}', 413),
]

BAD_VALUES: dict[str, list[object]] = {
    "password": [None, 1, True, [], {}, "", "x" * 5000],
    "code": [None, 123456, 1.5, True, [], {}, "", "12345", "\uff11" * 6, "123456\x00", "x" * 60000],
    "name": [None, 1, [], {}, "", "   ", "x" * 101, "bad\nname", "x" * 60000],
    "expires_in_days": [None, "30", 30.0, 1.5, 0, -1, 367, True, [], {}, 10**40],
    "paths": ["/api", 1, {}, [1], [None], ["api"], ["//evil.example"], ["/a b"], ["/" + "a" * 300], ["/x"] * 21],
}

POST_ENDPOINTS = [  # (path, a valid body, the state the user is in)
    pytest.param("/confirm-password", {"password": PASSWORD}, "verified", id="confirm-password"),
    pytest.param("/enroll", {}, "enrolling", id="enroll"),
    pytest.param("/enroll/confirm", {"code": "123456"}, "enrolling", id="enroll-confirm"),
    pytest.param("/verify", {"code": "123456"}, "owing", id="verify"),
    pytest.param("/recovery-codes/regenerate", {}, "verified", id="regenerate"),
    pytest.param("/disable", {}, "verified", id="disable"),
    pytest.param("/tokens", {"name": "n", "expires_in_days": 30, "paths": ["/api"]}, "verified", id="tokens-create"),
]
REQUIRED = {"password", "code", "name"}


def _prepare(live_app, clock: FixedClock, state: str) -> ApiClient:
    """A signed-in user in ``state``, with a token and the password confirmed where allowed."""
    c = ApiClient(live_app.url)
    c.register("mallory")
    if state == "enrolling":
        c.sudo()
        assert c.post("/enroll").status_code == 200
        return c
    c.enable(clock)
    c.sudo()
    c.create_token("existing")
    if state == "owing":
        c.login()
    return c


def _snapshot(live_app, c: ApiClient) -> tuple[object, ...]:
    service = live_app.middleware.service
    store, user = service.store, c.user
    return (
        c.get("/status").json(),
        store.user_state(user),
        service.tokens.list_tokens(user),
        store.recovery_codes(user),
        store.pending_secret(user, 0),
        [(e.event, e.detail) for e in store.events(user, 1000)],
    )


def _check(r, expected: int | None, case: str) -> None:
    assert r.status_code < 500, f"{case}: {r.status_code} {r.text[:200]}"
    assert 400 <= r.status_code < 500, f"{case}: {r.status_code} {r.text[:200]}"
    assert "error" in r.json(), case
    if expected is not None:
        assert r.status_code == expected, f"{case}: {r.status_code} {r.text[:200]}"


@pytest.mark.parametrize("path, valid, state", POST_ENDPOINTS)
def test_malformed_bodies_are_refused_and_change_nothing(live_app, clock, path, valid, state):
    c = _prepare(live_app, clock, state)
    before = _snapshot(live_app, c)
    for content_type, raw, status in COMMON_MALFORMED:
        headers = {} if content_type is None else {"Content-Type": content_type}
        r = c.api("POST", path, data=raw, headers=headers)
        _check(r, status, f"{content_type} {raw[:40]!r}")
    for field in valid:
        if field in REQUIRED:
            r = c.api("POST", path, {k: v for k, v in valid.items() if k != field})
            _check(r, 422, f"missing {field}")
        for bad in BAD_VALUES[field]:
            r = c.api("POST", path, {**valid, field: bad})
            _check(r, 400, f"{field}={bad!r:.40}")
            assert r.json()["error"] == "invalid_request", f"{field}={bad!r:.40}: {r.text[:200]}"
    assert _snapshot(live_app, c) == before


@pytest.mark.parametrize("path", ["/status", "/recovery-codes", "/tokens"])
def test_get_endpoints_ignore_a_garbage_body(live_app, clock, path):
    c = _prepare(live_app, clock, "verified")
    before = _snapshot(live_app, c)
    for content_type, raw, _ in COMMON_MALFORMED:
        headers = {} if content_type is None else {"Content-Type": content_type}
        r = c.api("GET", path, data=raw, headers=headers)
        assert r.status_code in (200, 413), f"{raw[:40]!r}: {r.status_code}"
    assert _snapshot(live_app, c) == before


def test_revoke_refuses_malformed_and_foreign_ids(live_app, clock):
    other = ApiClient(live_app.url)
    other.register("bob")
    other.sudo()
    foreign_id, _ = other.create_token("bob's")
    c = _prepare(live_app, clock, "verified")
    before = _snapshot(live_app, c)
    for raw_id in ["abc", "0", "-1", "1.5", "%00", "99999999999999999999999", "424242", str(foreign_id)]:
        r = c.api("DELETE", f"/tokens/{raw_id}")
        _check(r, 404, f"id {raw_id!r}")
    assert _snapshot(live_app, c) == before
    assert [t.id for t in live_app.middleware.service.tokens.list_tokens("bob")] == [foreign_id]


# -- several authenticators ---------------------------------------------------------------


def add_authenticator_app(c: ApiClient, clock: FixedClock, first: Authenticator, name: object = "Tablet"):
    """One more app while 2FA is on: password, enroll, confirm with a code of a later step than the first's."""
    c.sudo()
    app = Authenticator(c.post("/enroll").json()["secret"], clock)
    app.last_step = first.last_step
    body = {"code": app.code()} if name is None else {"code": app.code(), "name": name}
    first.last_step = app.last_step
    return app, c.post("/enroll/confirm", body)


def test_a_second_app_is_added_listed_renamed_and_removed(enabled, clock):
    c, phone, codes = enabled
    c.verify(phone.code())
    tablet, r = add_authenticator_app(c, clock, phone)
    assert r.status_code == 200 and r.json() == {"enabled": True, "recovery_codes": [], "tokens_revoked": 0}
    listed = c.get("/authenticators").json()["authenticators"]
    assert [(a["kind"], a["name"]) for a in listed] == [("totp", "Authenticator app"), ("totp", "Tablet")]
    assert all(set(a) == {"id", "kind", "name", "created_at", "last_used_at"} for a in listed)

    # Either app passes a new sign-in; the step is the user's across both.
    c.login()
    assert c.post("/verify", {"code": tablet.code()}).json()["method"] == "totp"
    r = c.api("PATCH", f"/authenticators/{listed[0]['id']}", {"name": "Old phone"})
    assert r.status_code == 200 and r.json() == {"id": listed[0]["id"], "name": "Old phone"}

    r = c.api("DELETE", f"/authenticators/{listed[1]['id']}")
    assert (r.status_code, r.json()["error"]) == (403, "password_required")
    c.sudo()
    assert c.api("DELETE", f"/authenticators/{listed[1]['id']}").json() == {"id": listed[1]["id"], "removed": True}
    r = c.api("DELETE", f"/authenticators/{listed[0]['id']}")
    assert (r.status_code, r.json()["error"]) == (409, "last_authenticator")
    assert [a["name"] for a in c.get("/authenticators").json()["authenticators"]] == ["Old phone"]

    c.login()
    phone.last_step = tablet.last_step
    r = c.post("/verify", {"code": tablet.code()})
    assert (r.status_code, r.json()["error"]) == (400, "invalid_code")
    phone.last_step = tablet.last_step
    assert c.post("/verify", {"code": phone.code()}).status_code == 200
    assert c.get("/status").json()["recovery_codes_left"] == len(codes)


@pytest.mark.parametrize(
    "method, path, body, status, error",
    [
        pytest.param("PATCH", "/authenticators/{id}", {"name": ""}, 400, "invalid_request", id="blank-name"),
        pytest.param("PATCH", "/authenticators/{id}", {"name": "x" * 101}, 400, "invalid_request", id="long-name"),
        pytest.param("PATCH", "/authenticators/{id}", {"label": "x"}, 422, "invalid_request", id="unknown-field"),
        pytest.param("PATCH", "/authenticators/999999", {"name": "x"}, 404, "not_found", id="not-found"),
        pytest.param("DELETE", "/authenticators/999999", None, 404, "not_found", id="remove-not-found"),
    ],
)
def test_bad_authenticator_calls_are_refused_and_change_nothing(enabled, method, path, body, status, error):
    c, phone, _ = enabled
    c.verify(phone.code())
    c.sudo()
    (only,) = c.get("/authenticators").json()["authenticators"]
    r = c.api(method, path.format(id=only["id"]), body)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert c.get("/authenticators").json()["authenticators"] == [only]


def test_authenticators_are_listed_only_past_the_second_factor(enabled):
    c, _, _ = enabled
    r = c.get("/authenticators")
    assert (r.status_code, r.json()["error"]) == (401, "two_factor_required")

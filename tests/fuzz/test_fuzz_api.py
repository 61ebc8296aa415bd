"""(b) The JSON API under /_2fa/api, fuzzed by signed-in callers with and without the
second factor and the password re-confirmation; then (c) the HTML pages with CSRF forms.

Each example is a short sequence of requests from one browser, then a look at
every page and list as each person: something stored by one request (a token
whose paths hold a lone surrogate, say) must not break a page later."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .checks import checked
from .conftest import FlaskWorld, scaled
from .helpers import API, MOUNT, PASSWORD, Req
from .strategies import ACCEPTS, CONTENT_TYPES, bodies, cookie_headers, json_values, requests

pytestmark = pytest.mark.fuzz

API_PATHS = [
    f"{API}/status", f"{API}/confirm-password", f"{API}/enroll", f"{API}/enroll/confirm", f"{API}/verify",
    f"{API}/recovery-codes", f"{API}/recovery-codes/regenerate", f"{API}/disable", f"{API}/tokens",
    f"{API}/tokens/1", f"{API}/tokens/9223372036854775807", f"{API}/tokens/9223372036854775808",
    f"{API}/tokens/0", f"{API}/tokens/-1", f"{API}/openapi.json", f"{API}/", f"{API}",
]
PAGE_PATHS = [
    f"{MOUNT}/", f"{MOUNT}/confirm-password", f"{MOUNT}/setup", f"{MOUNT}/setup/recovery-codes",
    f"{MOUNT}/verify", f"{MOUNT}/recovery-codes", f"{MOUNT}/recovery-codes.txt",
    f"{MOUNT}/recovery-codes/regenerate", f"{MOUNT}/disable", f"{MOUNT}/tokens", f"{MOUNT}/tokens/1/revoke",
    f"{MOUNT}/tokens/99/revoke", f"{MOUNT}/static/twofa.css", f"{MOUNT}/static/..%2fapi.py", f"{MOUNT}",
]
PERSONAS = ["anonymous", "alice", "alice+stale", "bob", "bob-nosudo", "bob-unverified", "carol", "carol-nosudo"]
SIGNED_IN = ["alice", "bob", "carol"]


def browsers(world: FlaskWorld) -> st.SearchStrategy[str | None]:
    """Mostly a real person's cookies, sometimes with garbage added, sometimes garbage alone."""
    garbage = cookie_headers(world.pools())
    persona = st.sampled_from(PERSONAS).map(world.persona)
    return st.one_of(
        persona, persona, persona,
        st.tuples(persona, garbage).map(lambda pg: "; ".join(x for x in pg if x) or None),
        garbage,
    )


def probes(world: FlaskWorld) -> list[Req]:
    """Every list and page, as every signed-in person, in the browser's and the API's way."""
    out = []
    for persona in ("alice", "bob", "carol"):
        cookie = world.persona(persona)
        for path, accept in ((f"{MOUNT}/tokens", "text/html"), (f"{MOUNT}/", "text/html"),
                             (f"{API}/tokens", "application/json"), (f"{API}/status", "application/json"),
                             (f"{API}/recovery-codes", "application/json"), ("/settings", "text/html"),
                             (f"{MOUNT}/recovery-codes", "text/html"), (f"{MOUNT}/recovery-codes.txt", "text/plain")):
            out.append(Req("GET", path, headers=[("Accept", accept), ("Cookie", cookie or "")]))
    return out


def api_requests(world: FlaskWorld) -> st.SearchStrategy[Req]:
    return requests(
        known_paths=API_PATHS, cookies=world.pools(), tokens=list(world.tokens.values()),
        csrf=list(world.csrf.values()),
        methods=st.sampled_from(["POST", "POST", "POST", "GET", "DELETE", "HEAD", "PUT", "OPTIONS"]),
        cookie_header=browsers(world),
    )


# The fields each call takes, and values worth trying in each.
ENDPOINT_FIELDS = {
    f"{API}/confirm-password": ["password"], f"{API}/enroll/confirm": ["code"], f"{API}/verify": ["code"],
    f"{API}/tokens": ["name", "expires_in_days", "paths"], f"{API}/enroll": [], f"{API}/disable": [],
    f"{API}/recovery-codes/regenerate": [],
}
FIELD_VALUES = {
    "password": st.sampled_from([PASSWORD, "wrong", "\ud800", "a\udfffb", "x" * 1025, "", "\u0000"]),
    "code": st.sampled_from(["123456", "١٢٣٤٥٦", "²³⁴⁵⁶⁷", "abcde-fghjk", "\ud800", " 123 456 ", "12345\u0000",
                             "ABCDE FGHJK", "x" * 5000, ""]),
    "name": st.one_of(st.sampled_from(["script", "\ufb2c" * 100, "\ufb2c" * 34, "\u0344" * 60, "x" * 100,
                                       "\ud800", "a\u2028b", " ", "😀" * 30]), st.text(max_size=110)),
    "expires_in_days": st.one_of(st.integers(-2, 4000), st.sampled_from([True, 1.0, "30", None, 2**70])),
    "paths": st.one_of(st.none(), st.lists(st.one_of(
        st.sampled_from(["/api", "/", "/\ud800", "/a\udc80b", "//x", "/\u00e9", "/" + "a" * 199, "/" + "a" * 200,
                         "/x\u2028", "api", "/\\x", "/..", "/%2e"]),
        st.text(max_size=10).map(lambda t: "/" + t)), max_size=22)),
}


@st.composite
def well_aimed_api_calls(draw: st.DrawFn, world: FlaskWorld) -> Req:
    """A well-formed call to a real endpoint by a real person, only the body's values fuzzed."""
    with_fields = [p for p, f in ENDPOINT_FIELDS.items() if f]
    path = draw(st.sampled_from(with_fields) if draw(st.integers(0, 3)) else st.sampled_from(API_PATHS[:10]))
    method = "DELETE" if path.startswith(f"{API}/tokens/") else draw(st.sampled_from(["POST"] * 5 + ["GET"]))
    content_type = draw(st.sampled_from(["application/json", "application/json; charset=utf-8"])
                        if draw(st.integers(0, 4)) else CONTENT_TYPES)
    fields = ENDPOINT_FIELDS.get(path, [])
    if fields and draw(st.integers(0, 5)):
        chosen = draw(st.lists(st.sampled_from(fields), unique=True, min_size=1))
        value = {f: draw(FIELD_VALUES[f] | json_values) if draw(st.integers(0, 5)) == 0 else draw(FIELD_VALUES[f])
                 for f in chosen}
        if path.endswith("/tokens") and "name" not in value and draw(st.booleans()):
            value["name"] = "script"
        ascii_only = draw(st.integers(0, 3)) > 0
        body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    else:
        body = draw(bodies(content_type, []))
    persona = draw(st.sampled_from(["bob", "bob", "carol", "carol", "alice", "alice+stale", "bob-nosudo",
                                    "bob-unverified", "carol-nosudo"]))
    headers = [("Accept", "application/json"), ("Cookie", world.persona(persona) or "")]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    return Req(method, path, headers=headers, body=body)


@settings(max_examples=scaled(4))
@given(data=st.data())
def test_api_never_fails_and_4xx_change_nothing(flask_world: FlaskWorld, data: st.DataObject) -> None:
    world = flask_world
    world.reset()
    dbs = [world.db_path, world.users_path]
    sequence = data.draw(st.lists(st.one_of(well_aimed_api_calls(world), well_aimed_api_calls(world),
                                            api_requests(world)), min_size=1, max_size=3))
    changed = False
    for req in sequence:
        resp = checked(world.send, req, dbs)
        changed |= req.method not in ("GET", "HEAD") and 200 <= resp.status < 400
    if changed:  # something was stored: every page and list must still work
        for req in probes(world):
            checked(world.send, req, dbs)


# -- (c) the HTML pages --------------------------------------------------------------------


@st.composite
def form_posts(draw: st.DrawFn, world: FlaskWorld) -> Req:
    """A page's form as a browser posts it: the right CSRF token most of the time."""
    persona = draw(st.sampled_from(PERSONAS))
    user = persona.split("+")[0].split("-")[0]
    path = draw(st.sampled_from(PAGE_PATHS[:11]))
    fields: list[tuple[str, str]] = []
    csrf = draw(st.sampled_from([world.csrf.get(user, ""), world.csrf.get(user, ""), world.csrf["bob"], "", "x" * 64,
                                 world.csrf.get(user, "").upper(), world.csrf.get(user, "") + "\u00e9"]))
    if draw(st.integers(0, 9)):
        fields.append(("csrf_token", csrf))
    from .strategies import FIELDS, SPECIAL_STRINGS

    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from([*FIELDS, "saved", "expires_days", "paths", "confirm"]))
        value = draw(st.one_of(st.sampled_from([s for s in SPECIAL_STRINGS if len(s) < 60_000]), st.text(max_size=30),
                               st.sampled_from(["on", "1", "/api /x", "/api,/\u00e9", "30", "٣", "0", "99999999"])))
        fields.append((name, value))
    from urllib.parse import urlencode

    encoded = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in fields]).encode("ascii")
    content_type = draw(st.sampled_from(["application/x-www-form-urlencoded"] * 4 + [
        "multipart/form-data; boundary=xyz", "application/json", "text/plain", None]))
    headers = [("Accept", draw(ACCEPTS) or "text/html"), ("Cookie", world.persona(persona) or "")]
    if content_type:
        headers.append(("Content-Type", content_type))
    query = draw(st.sampled_from(["", "next=/settings", "next=//evil", "next=%ed%a0%80", "new=1", "next=/\u00e9"]))
    return Req("POST", path, query=query, headers=headers, body=encoded)


@settings(max_examples=scaled(3))
@given(data=st.data())
def test_pages_never_fail_and_4xx_change_nothing(flask_world: FlaskWorld, data: st.DataObject) -> None:
    world = flask_world
    world.reset()
    dbs = [world.db_path, world.users_path]
    page_requests = requests(known_paths=PAGE_PATHS, cookies=world.pools(), tokens=list(world.tokens.values()),
                             csrf=list(world.csrf.values()), cookie_header=browsers(world))
    sequence = data.draw(st.lists(st.one_of(form_posts(world), form_posts(world), page_requests), min_size=1,
                                  max_size=3))
    changed = False
    for req in sequence:
        resp = checked(world.send, req, dbs)
        changed |= req.method not in ("GET", "HEAD") and 200 <= resp.status < 400
    if changed:  # something was stored: every page and list must still work
        for req in probes(world):
            checked(world.send, req, dbs)

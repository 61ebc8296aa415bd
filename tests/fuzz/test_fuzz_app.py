"""(a) The Flask example wrapped by the middleware, fuzzed whole; property 3 on its content."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .checks import checked
from .conftest import FlaskWorld
from .helpers import Req
from .strategies import cookie_headers, requests

pytestmark = pytest.mark.fuzz

APP_PATHS = [
    "/", "/settings", "/api/me", "/login", "/register", "/logout", "/api/login", "/api/register",
    "/api/logout", "/static/app.css", "/api", "/api/", "/settings/", "/logout/x", "/static/",
]
MOUNT_PATHS = ["/_2fa", "/_2fa/", "/_2fa/verify", "/_2fa/api/status", "/_2fa/tokens"]
EXEMPT = ("/logout", "/static/", "/api/logout")  # as examples/flask_app/app.py configures them

PERSONAS = ["anonymous", "alice", "alice+stale", "bob", "bob-nosudo", "bob-unverified", "carol", "carol-nosudo"]


def personas_or_garbage(world: FlaskWorld) -> st.SearchStrategy[str | None]:
    return st.one_of(st.sampled_from(PERSONAS).map(world.persona), cookie_headers(world.pools()))


@given(data=st.data())
def test_the_wrapped_app_never_fails_and_4xx_change_nothing(flask_world: FlaskWorld, data: st.DataObject) -> None:
    world = flask_world
    world.reset()
    req = data.draw(requests(known_paths=APP_PATHS + MOUNT_PATHS, cookies=world.pools(),
                             tokens=list(world.tokens.values()), csrf=list(world.csrf.values()),
                             cookie_header=personas_or_garbage(world)))
    checked(world.send, req, [world.db_path, world.users_path])


# -- property 3 ------------------------------------------------------------------------------


def exempt(path: str) -> bool:
    """README: ``/logout`` covers ``/logout`` and ``/logout/...``; ``/static/`` what is below it."""
    return any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in EXEMPT)


def token_allows(world: FlaskWorld, req: Req, path: str, owner: str) -> bool:
    """The request carries a live token of ``owner`` whose paths allow ``path`` (README's rules)."""
    authorization = req.header("Authorization") or ""
    if authorization[:7].lower() != "bearer ":
        return False
    sent = authorization[7:].strip()
    for key, token in world.tokens.items():
        if sent == token and key.startswith(owner + ".") and key.split(".")[1] in ("api", "all"):
            prefixes = world.token_paths[key]
            return not prefixes or any(
                path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes
            )
    return False


_MARKER = re.compile(r"Signed in as <strong>alice</strong>")


def shows_alice(body: bytes) -> bool:
    text = body.decode("utf-8", "replace")
    if _MARKER.search(text):
        return True
    try:
        payload = json.loads(text)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("user") == "alice"


@given(data=st.data())
def test_alice_never_reaches_the_app_without_her_second_factor(flask_world: FlaskWorld, data: st.DataObject) -> None:
    """alice is signed in with 2FA on and has not passed it in this sign-in: whatever the
    request, the app must not serve her anything (unless the path is exempt or she used a
    live token that allows the path)."""
    world = flask_world
    world.reset()
    c = world.cookies
    alice_cookies = {
        "session": [c["alice.session"]],
        "twofa_verified": [c["alice.stale_verified"], c["bob.verified"]],
        "twofa_sudo": [c["bob.sudo"]],
    }
    alice_first = cookie_headers(alice_cookies).map(
        lambda h: f"session={c['alice.session']}" + (f"; {h}" if h else "")
    )
    alice_personas = st.sampled_from([world.persona("alice"), world.persona("alice+stale")])
    req = data.draw(requests(known_paths=APP_PATHS, cookies=alice_cookies, tokens=list(world.tokens.values()),
                             cookie_header=st.one_of(alice_personas, alice_first, cookie_headers(alice_cookies))))
    resp = checked(world.send, req, [world.db_path, world.users_path])
    path = req.path_info
    for info in world.reached:
        if info is None or info.user_id != "alice" or info.token_id is not None:
            continue
        assert not info.verified, f"the app was told alice is verified at {path!r}\n{req.curl()}"
        assert exempt(path), f"the app was reached as alice, unverified, at {path!r}\n{req.curl()}"
    for info in world.reached:
        if info is not None and info.user_id == "alice" and info.token_id is not None:
            assert token_allows(world, req, path, "alice"), f"a token let alice in at {path!r}\n{req.curl()}"
    if 200 <= resp.status < 300 and shows_alice(resp.body):
        assert token_allows(world, req, path, "alice"), (
            f"alice's content answered {resp.status} without her second factor\n{req.curl()}\n{resp.text[:300]}"
        )

"""(d) The reverse proxy in front of a fake upstream, and ForwardAuth judging requests.

ann has 2FA on and is signed in upstream (cookie ``sid``) without having passed
it; the upstream serves "UPSTREAM-SECRET for <user>" to anyone it recognises
(by its own naive cookie parser, HTTP Basic, or the proxy's X-Twofa-User)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .checks import checked
from .conftest import EXEMPT, ProxyWorld, Upstream, scaled
from .helpers import Req, wsgi_str
from .strategies import cookie_headers, paths, requests

pytestmark = pytest.mark.fuzz

UPSTREAM_PATHS = ["/", "/secret", "/api/me", "/api", "/public/x", "/public/", "/logout", "/logout/x", "/page",
                  "/_2fa/verify", "/_2fa/api/status", "/whoami", "/login"]


def pools(world: ProxyWorld) -> dict[str, list[str]]:
    return {"sid": [world.cookies["ann.sid"], world.cookies["ben.sid"]], "SID": [world.cookies["ann.sid"]],
            "twofa_verified": ["garbage"], "s%69d": [world.cookies["ann.sid"]]}


def ann_cookies(world: ProxyWorld) -> st.SearchStrategy[str | None]:
    sid = f"sid={world.cookies['ann.sid']}"
    garbage = cookie_headers(pools(world))
    return st.one_of(st.just(sid), garbage.map(lambda g: f"{sid}; {g}" if g else sid),
                     garbage.map(lambda g: f"{g}; {sid}" if g else sid), garbage,
                     st.sampled_from([None, f"sid={world.cookies['ben.sid']}"]))


def exempt(path: str) -> bool:
    return any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in EXEMPT)


def token_allows(world: ProxyWorld, authorization: str | None, path: str, owner: str) -> bool:
    if not authorization or authorization[:7].lower() != "bearer ":
        return False
    sent = authorization[7:].strip()
    for key, token in world.tokens.items():
        if sent == token and key.startswith(owner + ".") and key.split(".")[1] in ("api", "all"):
            prefixes = world.token_paths[key]
            return not prefixes or any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)
    return False


@settings(max_examples=scaled(3))
@given(data=st.data())
def test_the_proxy_never_fails_nor_serves_ann_without_her_second_factor(
    proxy_world: ProxyWorld, data: st.DataObject
) -> None:
    world = proxy_world
    world.reset()
    req = data.draw(requests(known_paths=UPSTREAM_PATHS, cookies=pools(world), tokens=list(world.tokens.values()),
                             cookie_header=ann_cookies(world)))
    resp = checked(lambda r: world.send(world.proxy, r), req, [world.db_path])
    path = req.path_info
    for hit in list(world.upstream.hits):
        assert hit["path"] == path or path.startswith("/_2fa"), (
            f"the upstream served {hit['path']!r}, the middleware judged {path!r}\n{req.curl()}"
        )
        if hit["user"] == "ann":
            assert exempt(path) or token_allows(world, req.header("Authorization"), path, "ann"), (
                f"the upstream served ann at {hit['path']!r} without her second factor\n{req.curl()}"
            )
    if 200 <= resp.status < 300 and b"UPSTREAM-SECRET for ann" in resp.body:
        assert exempt(path) or token_allows(world, req.header("Authorization"), path, "ann"), (
            f"ann's content answered {resp.status}\n{req.curl()}\n{resp.text[:200]}"
        )


# -- forward auth -----------------------------------------------------------------------------


def served_path(uri: str) -> str:
    """The path an upstream behind nginx serves for this request-target: percent-decoded,
    ``\\`` as ``/``, dot segments (``..;`` too) resolved (RFC 3986 5.2.4)."""
    raw = uri.split("?", 1)[0].split("#", 1)[0]
    path = "/" + unquote(raw, encoding="latin-1").replace("\\", "/").lstrip("/")
    out: list[str] = []
    for segment in path.split("/")[1:]:
        bare = segment.split(";", 1)[0]
        if bare == "..":
            if out:
                out.pop()
        elif bare != ".":
            out.append(segment)
    trailing = path.split("/")[-1].split(";", 1)[0] in (".", "..")
    return "/" + "/".join(out) + ("/" if trailing and out else "")


@st.composite
def forward_auth_requests(draw: st.DrawFn, world: ProxyWorld) -> Req:
    req = draw(requests(known_paths=["/auth", "/", "/_2fa/verify", "/_2fa/api/status", "/_2fa"],
                        cookies=pools(world), tokens=list(world.tokens.values()), cookie_header=ann_cookies(world),
                        methods=st.sampled_from(["GET", "GET", "HEAD", "POST"])))
    uri = draw(paths(UPSTREAM_PATHS)) + draw(st.sampled_from(["", "?a=1", "?next=/x", "#frag", "?%ff"]))
    for name in draw(st.lists(st.sampled_from(["X-Original-URI", "X-Forwarded-Uri", "X-Original-URI"]),
                              min_size=0, max_size=2)):
        req.headers.append((name, wsgi_str(uri if draw(st.integers(0, 4)) else draw(paths(UPSTREAM_PATHS)))))
    if draw(st.integers(0, 9)) == 0:
        req.headers.append((draw(st.sampled_from(["X-Original-URL", "X-Rewrite-URL", "X-Original-Method"])), uri))
    return req


@settings(max_examples=scaled(2))
@given(data=st.data())
def test_forward_auth_never_fails_nor_lets_ann_through(proxy_world: ProxyWorld, data: st.DataObject) -> None:
    world = proxy_world
    world.reset()
    req = data.draw(forward_auth_requests(world))
    resp = checked(lambda r: world.send(world.forward_auth, r), req, [world.db_path])
    if not 200 <= resp.status < 300 or req.path_info.startswith("/_2fa"):
        return
    uri = req.header("X-Original-URI") or req.header("X-Forwarded-Uri") or ""
    cookie = req.header("Cookie") or ""
    upstream_user = Upstream.cookie_user(cookie, world.upstream.sessions)
    target = served_path(uri)
    under_mount = target == "/_2fa" or target.startswith("/_2fa/")
    if upstream_user == "ann" and not under_mount:
        assert exempt(target), (
            f"forward auth let ann's cookie through to {target!r} without her second factor\n{req.curl()}"
        )
    if resp.header("X-Twofa-User") == "ann" and not under_mount:
        assert exempt(target) or token_allows(world, req.header("Authorization"), target, "ann"), (
            f"forward auth answered {resp.status} for ann at {target!r}\n{req.curl()}"
        )

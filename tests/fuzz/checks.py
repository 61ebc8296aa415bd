"""The properties every fuzzed request is held to."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence

from hypothesis import note as _note
from hypothesis.control import currently_in_test_context

from .helpers import Req, Resp, describe, diff, snapshot


def note(text: str) -> None:
    if currently_in_test_context():
        _note(text)


def checked(
    send: Callable[[Req], Resp],
    req: Req,
    db_paths: Sequence[str],
    *,
    allowed_5xx: tuple[int, ...] = (),
) -> Resp:
    """Send ``req`` and hold the answer to properties 1 and 2, and the stored data to its limits.

    1. No 5xx (``allowed_5xx`` names the ones a test deliberately provokes; the fuzz
       tests never down the upstream or the store, so they allow none).
    2. A 4xx from the middleware changes nothing stored, bar what helpers.EXCLUDED_*
       lists (the security log, the wrong-code counter and its lockout). A 4xx the
       app itself gave after the middleware let the request through (a 404 for a
       token's request, say) is not a refusal: the token was used.
    """
    note(req.curl())
    before = [snapshot(p) for p in db_paths]
    resp = send(req)
    note(f"-> {resp.status}")
    assert resp.status < 500 or resp.status in allowed_5xx, f"property 1 (no 5xx){describe(req, resp)}"
    if 400 <= resp.status < 500 and not resp.reached_app:
        after = [snapshot(p) for p in db_paths]
        for path, old, new in zip(db_paths, before, after, strict=True):
            assert old == new, (
                f"property 2 (a 4xx changes nothing stored): {path.rsplit('/', 1)[-1]} changed\n"
                f"{diff(old, new)}{describe(req, resp)}"
            )
    for path in db_paths:
        stored_within_limits(path, req, resp)
    return resp


def stored_within_limits(db_path: str, req: Req, resp: Resp) -> None:
    """What the API documents as limits holds for what is stored: token names of 1 to 100
    printable characters, at most 20 paths of at most 200 characters, each a local path."""
    conn = sqlite3.connect(db_path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='twofa_tokens'").fetchone():
            return
        rows = conn.execute("SELECT id, name, paths FROM twofa_tokens").fetchall()
    finally:
        conn.close()
    for token_id, name, paths in rows:
        assert 1 <= len(name) <= 100 and name.isprintable(), (
            f"stored token {token_id} has a name of {len(name)} characters (limit 100): {name[:40]!r}..."
            f"{describe(req, resp)}"
        )
        listed = json.loads(paths)
        assert len(listed) <= 20 and all(isinstance(p, str) and 1 <= len(p) <= 200 for p in listed), (
            f"stored token {token_id} has paths {listed!r}{describe(req, resp)}"
        )

"""A Flask session kept on the server and found by a header, for the reviews' tests.

Token-style sessions of mobile and single-page clients look like this: no Cookie
header at all, so an identify that reads cookies alone must never be trusted
with such an app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

# Session id -> session data; tests add their own users.
SESSIONS: dict[str, dict[str, Any]] = {"sid-of-alice": {"user_id": "alice", "login_nonce": "nonce-of-alice"}}


class _ServerSession(CallbackDict, SessionMixin):  # type: ignore[type-arg, misc]
    pass


class HeaderSessionInterface(SessionInterface):
    """A server-side session found by the ``X-Session-Id`` header."""

    def open_session(self, app: Flask, request: Any) -> SessionMixin:
        return _ServerSession(SESSIONS.get(request.headers.get("X-Session-Id", ""), {}))

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        return None

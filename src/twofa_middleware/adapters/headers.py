"""Identify helpers for apps whose sign-in happens in front of them.

It is a security issue to trust a header that came from the client: use these
only when a proxy you control sets the header and strips any copy the client sent.
"""

from __future__ import annotations

from typing import Any

from ..identity import Identity, IdentifyFunc


def remote_user_identify(*, session_key_var: str = "HTTP_X_SESSION_ID") -> IdentifyFunc:
    """``REMOTE_USER`` as set by the server, bound to a per-sign-in session id.

    ``session_key_var`` names the environ key holding a value that changes at
    every sign-in; without one there is nothing to bind the verified state to,
    so the request counts as signed out.
    """

    def identify(environ: dict[str, Any]) -> Identity | None:
        user, key = environ.get("REMOTE_USER"), environ.get(session_key_var)
        if not user or not key:
            return None
        return Identity(str(user), str(key))

    return identify


def trusted_header_identify(
    user_header: str = "X-Forwarded-User", session_header: str = "X-Forwarded-Session"
) -> IdentifyFunc:
    """User and session id from headers set by a trusted front proxy."""
    user_var = "HTTP_" + user_header.upper().replace("-", "_")
    session_var = "HTTP_" + session_header.upper().replace("-", "_")

    def identify(environ: dict[str, Any]) -> Identity | None:
        user, key = environ.get(user_var), environ.get(session_var)
        if not user or not key:
            return None
        return Identity(user, key)

    return identify

"""Identify helpers for apps whose sign-in happens in front of them.

It is a security issue to trust a header that came from the client: use these
only when a proxy you control sets the header and strips any copy the client
sent. A user without a session value is still identified, with an empty
session key, which never counts as verified: leaving the session header out
can never skip the second factor.
"""

from __future__ import annotations

from typing import Any

from ..identity import IdentifyFunc, Identity


def remote_user_identify(*, session_key_var: str = "HTTP_X_SESSION_ID") -> IdentifyFunc:
    """``REMOTE_USER`` as set by the server, bound to a per-sign-in session id.

    ``session_key_var`` names the environ key holding a value that changes at
    every sign-in, set by the server or a trusted proxy.
    """

    def identify(environ: dict[str, Any]) -> Identity | None:
        user = environ.get("REMOTE_USER")
        if not user:
            return None
        return Identity(str(user), str(environ.get(session_key_var) or ""))

    return identify


def trusted_header_identify(
    user_header: str = "X-Forwarded-User", session_header: str = "X-Forwarded-Session"
) -> IdentifyFunc:
    """User and session id from headers set by a trusted front proxy."""
    user_var = "HTTP_" + user_header.upper().replace("-", "_")
    session_var = "HTTP_" + session_header.upper().replace("-", "_")

    def identify(environ: dict[str, Any]) -> Identity | None:
        user = environ.get(user_var)
        if not user:
            return None
        return Identity(user, environ.get(session_var) or "")

    return identify

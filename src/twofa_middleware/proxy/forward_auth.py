"""Forward auth: nginx ``auth_request`` and Traefik ``forwardAuth`` ask, per request."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from ..middleware import TwoFactorMiddleware
from .reverse import UpstreamUnavailable, _error, is_dot_segment
from .upstream import COOKIE_AS_SENT

_ALLOWED = "twofa.forward_auth.allowed"


def _allow(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    environ[_ALLOWED] = True
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b""]


class ForwardAuth:
    """Answers nginx ``auth_request`` and Traefik ``forwardAuth``: 2xx lets the request through.

    The request it judges is described by ``X-Original-URI`` (nginx, set it in
    the config) or ``X-Forwarded-Uri`` (Traefik), with the client's own headers
    and cookies. It is judged as a page navigation (GET) whatever its method,
    so that a challenge always carries the verify page's URL; the original
    method (``X-Original-Method``, ``X-Forwarded-Method``) is noted in the
    environ as ``twofa.forward_auth.method`` and changes no decision. The
    middleware's decision is run as is, around an app that only notes it was
    reached:

    - reached (anonymous visitors too: the app handles its own sign-in; users
      without 2FA; users past it; a valid token) → ``200``, with
      ``X-Twofa-User`` naming the user when there is one;
    - the second factor (or, under a policy, an enrollment) is owed → ``401``
      with ``X-Twofa-Verify-Url``: where to send the browser (the verify page
      with ``next``);
    - no ``X-Original-URI`` nor ``X-Forwarded-Uri``, both with different
      values, or an ``X-Original-URL`` or ``X-Rewrite-URL`` → ``400`` (nginx
      makes it a 500): a client's own copy could pick the path judged;
    - a token request that also carries cookies, or any ``Authorization``
      that is not a token of the middleware (Basic, say) → ``401``: nginx
      passes them on to the app, where cookies could carry someone's session
      that still owes the second factor, and Basic auth would sign a user in
      without it (the reverse proxy drops both instead);
    - anything else the middleware answered (401 for a bad token, 403, 502,
      503) is passed on. nginx treats a status other than 2xx, 401 or 403
      from ``auth_request`` as an error (500).

    Requests whose own path is under the mount are the 2FA pages and API,
    served by the middleware directly: route ``/_2fa/`` to this app too. Never
    expose this app to clients directly: it trusts the forwarded URI.
    """

    def __init__(self, middleware: TwoFactorMiddleware) -> None:
        self.middleware = middleware
        self.mount = middleware.settings.mount
        # The same middleware (settings, service, caches, all shared) around an
        # app that only notes it was reached, never the one it protects.
        self.judge = copy.copy(middleware)
        self.judge.app = _allow

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # nginx passes the client's Cookie header on as it is, to the app and to
        # the 2FA pages alike: who-am-I is asked with it as it is.
        environ[COOKIE_AS_SENT] = True
        if self._under_mount(environ.get("PATH_INFO", "") or "/"):
            return self._guarded(environ, start_response, self.middleware)
        return self.check(environ, start_response)

    def _under_mount(self, path: str) -> bool:
        return path == self.mount or path.startswith(self.mount + "/")

    def _guarded(
        self, environ: dict[str, Any], start_response: Callable[..., Any], app: TwoFactorMiddleware
    ) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except UpstreamUnavailable as exc:
            return _error(environ, exc.status, exc.code, exc.message)(environ, start_response)

    def check(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        original, forwarded = environ.get("HTTP_X_ORIGINAL_URI"), environ.get("HTTP_X_FORWARDED_URI")
        # nginx sets the one, Traefik the other, and each passes the client's
        # headers on: a client's copy of the other one must not pick the path judged.
        if original and forwarded and original != forwarded:
            return _refuse(start_response, "X-Original-URI and X-Forwarded-Uri disagree.")
        uri = original or forwarded
        if not uri:
            return _refuse(start_response, "Set X-Original-URI (nginx) or X-Forwarded-Uri (Traefik).")
        # IIS and old Symfony serve the path these name: the app would not serve the one judged.
        if environ.get("HTTP_X_ORIGINAL_URL") or environ.get("HTTP_X_REWRITE_URL"):
            return _refuse(start_response, "X-Original-URL and X-Rewrite-URL are not accepted.")
        method = environ.get("HTTP_X_ORIGINAL_METHOD") or environ.get("HTTP_X_FORWARDED_METHOD") or "GET"
        raw_path, _, query = uri.partition("?")
        path = _remove_dot_segments("/" + unquote(raw_path.split("#", 1)[0], encoding="latin-1").lstrip("/"))
        if self._under_mount(path):
            return _status(start_response, "200 OK", [])  # the pages guard themselves
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if authorization and (authorization[:7].lower() != "bearer " or environ.get("HTTP_COOKIE")):
            return _refuse(start_response, "Send a personal access token (Authorization: Bearer) without cookies.",
                           "401 Unauthorized")
        judged = dict(environ)
        judged.update(
            PATH_INFO=path, SCRIPT_NAME="", QUERY_STRING=query, CONTENT_LENGTH="",
            # Judged as a page navigation, so a challenge comes back as a redirect
            # to the verify page with ``next``: the URL the header carries.
            REQUEST_METHOD="GET", HTTP_ACCEPT="text/html",
        )
        judged.pop("HTTP_X_REQUESTED_WITH", None)
        judged["twofa.forward_auth.method"] = method
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self._guarded(judged, capture, self.judge)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if judged.get(_ALLOWED):
            info = judged.get("twofa")
            user = getattr(info, "user_id", None)
            return _status(start_response, "200 OK", [("X-Twofa-User", user)] if user else [])
        status = captured.get("status", "500 Internal Server Error")
        headers = dict(captured.get("headers", []))
        if status.startswith("303") and headers.get("Location", "").startswith(self.mount + "/"):
            verify_url = headers["Location"]
            return _json(start_response, "401 Unauthorized",
                         {"error": "two_factor_required", "verify_url": verify_url},
                         (("X-Twofa-Verify-Url", verify_url),))
        start_response(status, list(captured.get("headers", [])))
        return [body]


def _json(
    start_response: Callable[..., Any], status: str, payload: dict[str, str], headers: tuple[tuple[str, str], ...] = ()
) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store"), *headers])
    return [json.dumps(payload).encode()]


def _refuse(start_response: Callable[..., Any], message: str, status: str = "400 Bad Request") -> Iterable[bytes]:
    return _json(start_response, status, {"error": "invalid_request", "message": message})


def _status(start_response: Callable[..., Any], status: str, headers: list[tuple[str, str]]) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Cache-Control", "no-store"), *headers])
    return [b""]


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, with ``\\`` read as ``/``: the path the upstream will serve."""
    out: list[str] = []
    for segment in path.replace("\\", "/").split("/")[1:]:
        if not is_dot_segment(segment):
            out.append(segment)
        elif segment.partition(";")[0] == ".." and out:
            out.pop()
    trailing = path.endswith(("/.", "/..")) and out
    return "/" + "/".join(out) + ("/" if trailing else "")

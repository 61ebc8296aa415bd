"""Forward auth: nginx ``auth_request`` and Traefik ``forwardAuth`` ask, per request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.wrappers import Response

from .. import languages
from ..decision import Challenge, Pass
from ..errors import TwoFactorError
from ..i18n import N_, Text
from ..middleware import TwoFactorMiddleware
from ..web.http import error_json, secure
from .common import error
from .parity import Ambiguous, header_value, judged_path
from .upstream import COOKIE_AS_SENT

# What the client of nginx sees of a refusal: auth_request passes 401 and 403 on
# and turns any other status into a 500, and a request the app could read
# differently is the client's doing, not a server error.
_AMBIGUOUS = 403


class ForwardAuth:
    """Answers nginx ``auth_request`` and Traefik ``forwardAuth``: 2xx lets the request through.

    The request it judges is described by ``X-Original-URI`` (nginx, set it in
    the config) or ``X-Forwarded-Uri`` (Traefik), with the client's own headers
    and cookies. The original method (``X-Original-Method``,
    ``X-Forwarded-Method``) is noted in the environ as
    ``twofa.forward_auth.method`` and changes no decision. The middleware's
    one decision (:func:`~twofa_middleware.decision.decide`) is rendered as:

    - reached (anonymous visitors too: the app handles its own sign-in; users
      without 2FA; users past it; a valid token) → ``200``, with
      ``X-Twofa-User`` naming the user when there is one (percent-encoded
      UTF-8, see :func:`.parity.header_value`);
    - the second factor (or, under a policy, an enrollment) is owed → ``401``
      with ``X-Twofa-Verify-Url``: where to send the browser (the verify page
      with ``next``);
    - no ``X-Original-URI`` nor ``X-Forwarded-Uri``, both with different
      values, or an ``X-Original-URL`` or ``X-Rewrite-URL`` → ``400`` (nginx
      makes it a 500): a client's own copy could pick the path judged;
    - a path the app and this judge could read differently (``\\``, ``;``, an
      encoded ``.``, ``/`` or unreserved character, dot or empty segments),
      a path under the mount (the front proxy must route those here, not
      through ``auth_request``), or a Cookie header with repeated lines joined
      by a comma, a quoted value or anything else that is not plain RFC 6265,
      or the session cookie twice → ``403`` ``ambiguous_request`` (a 403, so
      nginx shows the client a 403 rather than a 500): judged exactly as the
      app will see it, or refused, never normalised (see :mod:`.parity`);
    - a token request that also carries cookies, or any ``Authorization``
      that is not a token of the middleware (Basic, say) → ``401``: nginx
      passes them on to the app, where cookies could carry someone's session
      that still owes the second factor, and Basic auth would sign a user in
      without it (the reverse proxy drops both instead);
    - a refusal (401 for a bad token, 403 for a token whose owner must enroll
      first, 502/504 when who-am-I cannot be asked, 503 when the store is down)
      with its status and JSON error. nginx treats a status other than 2xx, 401 or 403
      from ``auth_request`` as an error (500).

    Requests whose own path is under the mount are the 2FA pages and API,
    served by the middleware directly: route ``/_2fa/`` to this app too. Never
    expose this app to clients directly: it trusts the forwarded URI.
    """

    def __init__(self, middleware: TwoFactorMiddleware) -> None:
        self.middleware = middleware
        self.mount = middleware.settings.mount

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
        except TwoFactorError as exc:  # the upstream is down, or the Cookie header is ambiguous
            return error(environ, exc.status, exc.code, exc.text)(environ, start_response)

    def _target(self, environ: dict[str, Any]) -> tuple[str, str]:
        """``(path, query)`` of the request to judge, exactly as the app will get it, or :class:`_Refused`."""
        original, forwarded = environ.get("HTTP_X_ORIGINAL_URI"), environ.get("HTTP_X_FORWARDED_URI")
        # nginx sets the one, Traefik the other, and each passes the client's
        # headers on: a client's copy of the other one must not pick the path judged.
        if original and forwarded and original != forwarded:
            raise _Refused(N_("X-Original-URI and X-Forwarded-Uri disagree."))
        uri = original or forwarded
        if not uri:
            raise _Refused(N_("Set X-Original-URI (nginx) or X-Forwarded-Uri (Traefik)."))
        # IIS and old Symfony serve the path these name: the app would not serve the one judged.
        if environ.get("HTTP_X_ORIGINAL_URL") or environ.get("HTTP_X_REWRITE_URL"):
            raise _Refused(N_("X-Original-URL and X-Rewrite-URL are not accepted."))
        try:
            path, query = judged_path(uri)
        except Ambiguous as exc:
            raise _Refused(exc.text, _AMBIGUOUS, exc.code) from exc
        if self._under_mount(path):
            # The front proxy routes the mount to this app, never through auth_request:
            # a mount path here is one the app would serve, and nothing vouches for it.
            raise _Refused(
                N_("Route %(mount)s/ to the two-factor app, not through auth_request."), _AMBIGUOUS,
                mount=self.mount,
            )
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        if authorization and (authorization[:7].lower() != "bearer " or environ.get("HTTP_COOKIE")):
            raise _Refused(N_("Send a personal access token (Authorization: Bearer) without cookies."), 401)
        return path, query

    def check(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            path, query = self._target(environ)
        except _Refused as refused:
            return _refuse(environ, start_response, refused.text, refused.status, refused.code)
        method = environ.get("HTTP_X_ORIGINAL_METHOD") or environ.get("HTTP_X_FORWARDED_METHOD") or "GET"
        judged = dict(environ)
        judged.update(PATH_INFO=path, SCRIPT_NAME="", QUERY_STRING=query, CONTENT_LENGTH="")
        judged["twofa.forward_auth.method"] = method
        try:
            decision = self.middleware.decision(judged, path)
        except TwoFactorError as exc:  # the upstream is down, or the Cookie header is ambiguous
            status = _AMBIGUOUS if isinstance(exc, Ambiguous) else exc.status
            return _refuse(environ, start_response, exc.text, status, exc.code)
        if isinstance(decision, Pass):
            user = decision.info.user_id
            headers = [("X-Twofa-User", header_value(user))] if user else []
            # A trusted browser spared the code: the verified cookie for this sign-in
            # (nginx: ``auth_request_set $twofa_cookie $upstream_http_set_cookie;
            # add_header Set-Cookie $twofa_cookie;``). Without it, each request asks the store again.
            return _allow(environ, start_response, headers + self.middleware.pass_headers(decision, judged))
        if isinstance(decision, Challenge):
            # Where to send the browser, with ``next``: the URL the header carries.
            location = self.middleware.web.step_location(decision.step, judged)
            # Always a 401: the status nginx's auth_request turns into the redirect to the header's URL.
            language = self.middleware.web.language(environ)
            if decision.step == "enroll":
                message = language.gettext(N_("Set up two-factor authentication first."))
                response = error_json("two_factor_enrollment_required", message, 401, verify_url=location)
            else:
                message = language.gettext(N_("Verify with your second factor first."))
                response = error_json("two_factor_required", message, 401, verify_url=location)
            response.headers["X-Twofa-Verify-Url"] = location
            return response(environ, start_response)
        message = self.middleware.web.language(environ).gettext(decision.message)
        response = error_json(decision.code, message, decision.status)
        if decision.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response(environ, start_response)


class _Refused(Exception):
    def __init__(self, message: str | Text, status: int = 400, code: str = "invalid_request", **params: object) -> None:
        self.text = message if isinstance(message, Text) else Text(message, params)
        super().__init__(str(self.text))
        self.status, self.code = status, code


def _refuse(
    environ: dict[str, Any], start_response: Callable[..., Any], message: Text, status: int = 400,
    code: str = "invalid_request",
) -> Iterable[bytes]:
    language = languages.for_request(environ)
    return error_json(code, language.text(message), status)(environ, start_response)


def _allow(
    environ: dict[str, Any], start_response: Callable[..., Any], headers: list[tuple[str, str]]
) -> Iterable[bytes]:
    return secure(Response(b"", 200, headers, mimetype="text/plain"))(environ, start_response)

# mypy: disable-error-code="import-untyped"
"""The Django middleware: serves the 2FA pages and renders the one decision for every other request.

Put it right after ``django.contrib.auth.middleware.AuthenticationMiddleware``.
Requests under the mount (``/_2fa``) are answered here, before any view, so
Django's ``CsrfViewMiddleware`` (a view check) never sees them: those pages
carry the middleware's own CSRF tokens. Every other request is judged on the
user Django resolved, and judged again just before the view if anything after
this middleware changed ``request.user``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Container
from http.cookies import CookieError, Morsel
from importlib import import_module
from io import BytesIO
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, RawPostDataException
from django.utils.module_loading import import_string
from werkzeug.test import run_wsgi_app

from ...decision import Pass, Refuse
from ...errors import InvalidToken
from ...i18n import N_
from ...identity import Identity, TwoFactorInfo
from ...middleware import TwoFactorMiddleware as Core
from ...web.http import error_json
from .core import APP_NAME, NONCE_KEY, REQUEST_KEY, new_nonce, twofa, user_by_key, user_key

log = logging.getLogger("twofa_middleware")

THIS = "twofa_middleware.integrations.django.middleware.TwoFactorMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"


def configuration_problems(middleware_class: type | None = None) -> list[str]:
    """What keeps the integration from judging the app's own user (empty: nothing)."""
    problems = []
    if not apps.is_installed(APP_NAME):
        problems.append(f"add {APP_NAME!r} to INSTALLED_APPS (it sets a new sign-in key at every login)")
    ours = auth = None
    for index, path in enumerate(django_settings.MIDDLEWARE):
        cls = import_string(path)
        if ours is None and isinstance(cls, type) and issubclass(cls, middleware_class or TwoFactorMiddleware):
            ours = index
        if auth is None and isinstance(cls, type) and issubclass(cls, AuthenticationMiddleware):
            auth = index
    if ours is None or auth is None or auth > ours:
        problems.append(f"put {THIS!r} after {AUTH!r} in MIDDLEWARE")
    return problems


class TwoFactorMiddleware:
    """Two-factor authentication for every request of a Django project."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Any) -> None:
        problems = configuration_problems(type(self))
        if problems:
            raise ImproperlyConfigured("twofa: " + "; ".join(problems))
        self.get_response = get_response
        self.core: Core = twofa()
        self.mount = self.core.settings.mount

    def __call__(self, request: Any) -> Any:
        if not hasattr(request, "user") or not hasattr(request, "session"):
            # Fail closed: without Django's user there is nobody to judge.
            log.error("twofa: request.user is not set; put %s after %s in MIDDLEWARE", THIS, AUTH)
            message = self.core.web.language(request.META).gettext(
                N_("Two-factor authentication is not set up correctly.")
            )
            return HttpResponse(message, status=500, content_type="text/plain")
        path: str = request.path_info or "/"
        if path == self.mount or path.startswith(self.mount + "/"):
            return self.serve_pages(request)
        environ = wsgi_environ(request)
        decision = self.core.decision(environ, path)
        if not isinstance(decision, Pass):
            return to_django(self.core.response(decision, environ), environ)
        info = decision.info
        if info.token_id is not None:
            refused = self.as_token_owner(request, info)
            if refused is not None:
                return refused
        request.META["twofa"] = info
        response = self.get_response(request)
        # A trusted browser spared the code: the verified cookie for this sign-in.
        for _, header in self.core.pass_headers(decision, environ):
            _add_cookie(response, header)
        return response

    def process_view(self, request: Any, view_func: Any, view_args: Any, view_kwargs: Any) -> Any:
        """The in-app guard: the user the view will see is the one judged, or is judged now."""
        info = request.META.get("twofa")
        user = request.user
        user_id = user_key(user) if user.is_authenticated else None
        if isinstance(info, TwoFactorInfo) and user_id == info.user_id:
            return None
        identity = None
        if user_id is not None:
            nonce = request.session.get(NONCE_KEY)
            identity = Identity(user_id, nonce if isinstance(nonce, str) and nonce else new_nonce(request))
        log.warning("twofa: request.user changed after the middleware judged the request; judging %s", user_id)
        environ = wsgi_environ(request)
        decision = self.core.guard(environ, identity)
        if isinstance(decision, Pass):
            request.META["twofa"] = decision.info
            return None
        return to_django(self.core.response(decision, environ), environ)

    # -- the pages and the JSON API -----------------------------------------------------

    def serve_pages(self, request: Any) -> Any:
        """The mount's pages and API, from the same WSGI implementation as everywhere else."""
        try:
            body = request.body
        except RawPostDataException:
            log.error("twofa: the request body under %s was read before the middleware", self.mount)
            return to_django(error_json("invalid_request", self.core.web.language(request.META).gettext(
                N_("The request body is unreadable.")), 400), request.META)
        environ = wsgi_environ(request)
        environ["wsgi.input"] = BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return to_django(self.core.web, environ)

    # -- personal access tokens -----------------------------------------------------------

    def as_token_owner(self, request: Any, info: TwoFactorInfo) -> Any:
        """The request is the token owner's alone: Django's user, and nothing of any session."""
        owner = user_by_key(str(info.user_id))
        if owner is None:  # the user was deleted or deactivated since the token was made
            refused = Refuse(401, InvalidToken.code, InvalidToken.message)
            return to_django(self.core.response(refused, request.META), request.META)
        request.user = owner
        request._cached_user = owner

        async def auser() -> Any:
            return owner

        request.auser = auser
        request.META["REMOTE_USER"] = str(owner.get_username())
        # No session cookie rides along: a token never lends its exemption from 2FA to a session.
        request.META.pop("HTTP_COOKIE", None)
        request.COOKIES = {}
        request.session = import_module(django_settings.SESSION_ENGINE).SessionStore()
        # A browser cannot send another site's Authorization header: no CSRF to guard against.
        request._dont_enforce_csrf_checks = True
        return None


def wsgi_environ(request: Any) -> dict[str, Any]:
    """The request as a WSGI environ again: Django replaced ``PATH_INFO`` in ``META`` with
    its decoded path (U+FFFD for bytes that are not UTF-8), which werkzeug cannot read."""
    path = request.path_info.encode("utf-8").decode("latin-1")
    return {**request.META, "PATH_INFO": path, REQUEST_KEY: request}


# -- werkzeug responses as Django's ---------------------------------------------------------


class _RawCookie(Morsel[str]):
    """A ``Set-Cookie`` header passed through to Django exactly as written."""

    def __init__(self, header: str) -> None:
        super().__init__()
        self._header = header
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        with contextlib.suppress(CookieError):  # a name Morsel refuses still goes out as written
            self.set(name.strip(), value, value)

    def OutputString(self, attrs: Container[str] | None = None) -> str:  # noqa: N802  # Morsel's name
        return self._header


def to_django(app: Any, environ: dict[str, Any]) -> Any:
    """Run a werkzeug response (or WSGI app) and return it as an ``HttpResponse``:
    the status, every header, and each ``Set-Cookie`` as written."""
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    code = status.partition(" ")[0]
    response = HttpResponse(content, status=int(code))
    del response["Content-Type"]
    for name, value in headers.to_wsgi_list():
        if name.lower() == "set-cookie":
            _add_cookie(response, value)
        elif name in response:
            response[name] = f"{response[name]}, {value}"
        else:
            response[name] = value
    return response


def _add_cookie(response: Any, header: str) -> None:
    """One ``Set-Cookie`` header on a Django response, exactly as written."""
    cookie = _RawCookie(header)
    key = cookie.key or "twofa"
    while key in response.cookies:  # the same name twice (two paths): keep both
        key += "\0"
    response.cookies[key] = cookie

"""Routing for everything under the mount: who may reach what, and error pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response

from .. import languages
from ..config import Settings
from ..cookies import Cookies
from ..errors import InvalidRequest, StoreUnavailable, TwoFactorError
from ..i18n import ENGLISH, N_, Language
from ..identity import IdentifyFunc
from ..service import TwoFactorService
from . import theme
from .api import Api
from .authenticator_pages import AuthenticatorPages
from .browser_pages import BrowserPages
from .context import Ctx, template_globals
from .http import Request, error_json, redirect, secure, wants_json, with_language, with_next
from .routes import Access, Urls
from .token_pages import TokenPages
from .trust import trusted_sign_in
from .views import Pages

log = logging.getLogger("twofa_middleware")

VERIFY_FIRST = N_("Verify with your second factor first.")

_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}

# The error pages' own words for the HTTP errors the router raises (werkzeug's are English only).
_HTTP_TEXTS = {
    400: (N_("Bad request"), N_("The request could not be understood.")),
    404: (N_("Not found"), N_("There is nothing at this address.")),
    405: (N_("Method not allowed"), N_("This address does not take that method.")),
    413: (N_("Request too large"), N_("The request is larger than this page takes.")),
}


class TwoFactorWeb:
    """The WSGI app behind ``settings.mount``."""

    def __init__(
        self, settings: Settings, service: TwoFactorService, cookies: Cookies, identify: IdentifyFunc
    ) -> None:
        self.settings = settings
        self.service = service
        self.cookies = cookies
        self.identify = identify
        self.templates = theme.environment(settings)
        api = Api(settings)
        self.urls = Urls(settings.mount, api.routes())
        self.templates.globals.update(template_globals(settings, self.urls))
        pages, token_pages = Pages(self.templates), TokenPages(self.templates)
        authenticator_pages = AuthenticatorPages(self.templates)
        browser_pages = BrowserPages(self.templates)
        self._handlers: dict[str, Callable[[Ctx], Response]] = {
            "account": pages.account,
            "confirm_password": pages.confirm_password,
            "setup": pages.setup,
            "setup_codes": pages.setup_codes,
            "verify": pages.verify,
            "recovery_codes": pages.recovery_codes,
            "recovery_codes_download": pages.recovery_codes_download,
            "regenerate": pages.regenerate,
            "disable": pages.disable,
            "sign_out": pages.sign_out,
            "tokens": token_pages.tokens,
            "token_revoke": token_pages.token_revoke,
            "authenticator_rename": authenticator_pages.rename,
            "authenticator_remove": authenticator_pages.remove,
            "browser_revoke": browser_pages.browser_revoke,
            "browsers_revoke_all": browser_pages.browsers_revoke_all,
            **api.handlers(),
        }
        self._openapi = api.openapi

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        language = self.language(environ)
        try:
            if not _utf8(environ.get("QUERY_STRING", "")):
                raise InvalidRequest(N_("The query string is not valid UTF-8."))
            response = self.dispatch(request, language)
        except TwoFactorError as exc:
            response = self.error_response(environ, exc, language)
        except HTTPException as exc:
            response = self.http_error(environ, exc, language)
        if response.mimetype not in _STATIC_TYPES.values():  # a script or style sheet is the same in every language
            response = with_language(response, language.tag)
        return secure(response)(environ, start_response)

    def language(self, environ: dict[str, Any]) -> Language:
        """This request's language: the app's ``locale(environ)``, else ``Accept-Language``, else English."""
        return languages.for_request(environ, self.settings.locale)

    def dispatch(self, request: Request, language: Language = ENGLISH) -> Response:
        adapter = self.urls.map.bind_to_environ(request.environ)
        endpoint, args = adapter.match()
        if endpoint == "static":
            return self.static(args["name"])
        if endpoint == "api_openapi":  # public: it describes the API and holds nothing about anyone
            return self._openapi()
        environ = request.environ
        if environ.get("HTTP_AUTHORIZATION", "").lower().startswith("bearer "):
            return error_json(
                "token_not_allowed", language.gettext(N_("Access tokens cannot manage two-factor authentication.")),
                403,
            )
        identity = self.identify(environ)
        if identity is None:
            return self.signed_out(environ, language)
        state = self.service.state(identity.user_id)
        verified = not state.enabled or self.cookies.is_verified(environ, identity, state.epoch)
        trusted = (
            None if verified or endpoint == "sign_out"
            else trusted_sign_in(self.cookies, self.service, environ, identity, state)
        )
        verified = verified or trusted is not None
        ctx = Ctx(request, identity, state, verified, self.settings, self.cookies, self.service, self.urls, args,
                  language)
        if self.urls.access[endpoint] is Access.VERIFIED and not verified:
            return self.challenge(environ, language)
        response = self._handlers[endpoint](ctx)
        if trusted is not None:  # the verified cookie for this sign-in, as the app's pass issues it
            response.headers.add(*ctx.verified_cookie(trusted.epoch))
        return response

    # -- answers shared with the middleware ------------------------------------------

    def challenge(self, environ: dict[str, Any], language: Language | None = None) -> Response:
        """The second factor is owed: a page navigation goes to verify, anything else gets 401 JSON."""
        if wants_json(environ):
            language = language or self.language(environ)
            return with_language(error_json(
                "two_factor_required", language.gettext(VERIFY_FIRST), 401, verify_url=self.urls("verify")
            ), language.tag)
        return redirect(self.step_location("verify", environ))

    def challenge_enroll(self, environ: dict[str, Any], language: Language | None = None) -> Response:
        """The app's policy requires 2FA and this user has none yet."""
        if wants_json(environ):
            language = language or self.language(environ)
            return with_language(error_json(
                "two_factor_enrollment_required", language.gettext(N_("Set up two-factor authentication first.")),
                403, setup_url=self.urls("setup"),
            ), language.tag)
        return redirect(self.step_location("enroll", environ))

    def step_location(self, step: str, environ: dict[str, Any]) -> str:
        """The page where the user takes ``step`` (``verify``, ``enroll``), with ``next`` back here."""
        if step == "enroll":
            return with_next(self.urls("setup"), environ.get("PATH_INFO", "/"))
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        return with_next(self.urls("verify"), path + (f"?{query}" if query else ""))

    def signed_out(self, environ: dict[str, Any], language: Language) -> Response:
        if wants_json(environ) or "/api/" in environ.get("PATH_INFO", ""):
            return error_json("not_signed_in", language.gettext(N_("Sign in first.")), 401)
        if self.settings.login_url:
            return redirect(with_next(self.settings.login_url, environ.get("PATH_INFO", "/")))
        return self.page_error(
            401, language.gettext(N_("Sign in first")),
            language.gettext(N_("Sign in to the application, then come back.")), language,
        )

    def error_response(
        self, environ: dict[str, Any], exc: TwoFactorError, language: Language | None = None
    ) -> Response:
        """``exc`` as JSON or as a page, its message in the request's language (its code never)."""
        if isinstance(exc, StoreUnavailable):
            log.error("twofa store unavailable: %s", exc.__cause__ or exc)
        language = language or self.language(environ)
        extra: dict[str, Any] = {}
        if hasattr(exc, "retry_after"):
            extra["retry_after"] = exc.retry_after
        message = language.text(exc.text)
        if wants_json(environ) or "/api/" in environ.get("PATH_INFO", ""):
            return with_language(error_json(exc.code, message, exc.status, **extra), language.tag)
        title = N_("Something went wrong") if exc.status < 500 else N_("Temporarily unavailable")
        response = self.page_error(exc.status, language.gettext(title), message, language)
        if "retry_after" in extra:
            response.headers["Retry-After"] = str(extra["retry_after"])
        return response

    def http_error(self, environ: dict[str, Any], exc: HTTPException, language: Language) -> Response:
        if isinstance(exc, RequestRedirect):  # e.g. /_2fa -> /_2fa/
            return exc.get_response(environ)
        status = exc.code or 500
        title, description = _HTTP_TEXTS.get(status, (exc.name, exc.description or exc.name))
        title, description = language.gettext(title), language.gettext(description)
        if wants_json(environ) or "/api/" in environ.get("PATH_INFO", ""):
            name = (exc.name or "error").lower().replace(" ", "_")
            response = error_json(name, description, status)
        else:
            response = self.page_error(status, title, description, language)
        if status == 405 and isinstance(exc.response, Response):
            response.headers["Allow"] = exc.response.headers.get("Allow", "")
        elif status == 405:
            valid = getattr(exc, "valid_methods", None)
            if valid:
                response.headers["Allow"] = ", ".join(valid)
        return response

    def page_error(self, status: int, title: str, message: str, language: Language = ENGLISH) -> Response:
        """An error page; ``title`` and ``message`` already in ``language``."""
        html = self.templates.get_template("error.html").render(
            title=title, message=message, link=None, user_id=None, **language.template_values()
        )
        return with_language(secure(Response(html, status=status, mimetype="text/html")), language.tag)

    def static(self, name: str) -> Response:
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix not in _STATIC_TYPES or "/" in name or name.startswith("."):
            raise NotFound()
        resource = resources.files("twofa_middleware.web").joinpath("static", name)
        if not resource.is_file():
            raise NotFound()
        response = Response(resource.read_bytes(), mimetype=_STATIC_TYPES[suffix])
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def _utf8(wsgi_string: str) -> bool:
    """A WSGI "bytes as latin-1" string that holds UTF-8 (werkzeug decodes ``args`` strictly)."""
    try:
        wsgi_string.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return False
    return True

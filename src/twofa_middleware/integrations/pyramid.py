"""Pyramid: ``config.include("twofa_middleware.integrations.pyramid")`` and one directive.

.. code-block:: python

    config.set_session_factory(...)            # the sign-in key lives in the session
    config.set_security_policy(MyPolicy())     # any policy: session, auth_tkt, SSO...
    config.include("twofa_middleware.integrations.pyramid")
    config.configure_twofa(store=SQLAlchemyStore(url), check_password=users.check_password,
                           issuer="Example", login_url="/login", logout_url="/logout")
    app = config.make_wsgi_app()               # no wrapping: the tween hosts the middleware

What it sets up:

- A tween at the top of the chain (``under=INGRESS``) runs the whole
  :class:`TwoFactorMiddleware` around the rest of Pyramid: its pages and API under
  ``mount``, and its one decision for every other request. The user it judges is
  the one Pyramid resolves on this very request (``request.authenticated_userid``,
  by whatever channel the app's security policy reads), never a guess from cookies.
- Below the decision, an in-app guard asks Pyramid again, right before the view
  runs, and hands that user to :meth:`TwoFactorMiddleware.guard`: any difference
  is decided afresh, and a challenge or refusal is rendered as a Pyramid response.
- The app's security policy is wrapped: every ``remember(request, userid)`` puts a
  fresh sign-in key in ``request.session``; a user the policy resolves without one
  (a remember-me cookie, an SSO ticket, a custom loader) gets a fresh key at once,
  so that sign-in owes the second factor and, once it is given, keeps it. For a
  personal-access-token request the wrapped policy answers the token's owner:
  ``request.authenticated_userid`` and ``request.identity`` (see ``token_identity``).
- ``Settings.sign_out``: the verify page's "Sign out" posts to the middleware's own
  CSRF-checked endpoint, which calls ``forget(request)`` and invalidates the session,
  so it works with ``config.set_default_csrf_options(require_csrf=True)``.
- Misconfiguration fails closed with one log line: no session factory or no
  security policy stops the app at startup; a request whose session cannot be
  read, or a policy replaced behind the integration's back, is answered 500.

Settings (``twofa.*`` in the ini file) fill what the directive is not given:
``twofa.secret_key``, ``twofa.database_url``, ``twofa.check_password`` (a dotted
name), ``twofa.issuer``, ``twofa.mount``, ``twofa.login_url``, ``twofa.logout_url``,
``twofa.home_url``, ``twofa.exempt_paths`` (space-separated), ``twofa.cache_seconds``,
``twofa.nonce_key``. With ``twofa.check_password`` set, ``config.include`` alone
configures everything.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from pyramid.config import Configurator
from pyramid.exceptions import ConfigurationError
from pyramid.interfaces import ISecurityPolicy, ISessionFactory
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.security import forget
from pyramid.tweens import INGRESS

from ..adapters.pyramid import security_policy_identify
from ..decision import Pass, Refuse
from ..i18n import N_
from ..identity import IdentifyFunc, Identity, TwoFactorInfo
from ..middleware import TwoFactorMiddleware
from ..store.sqlalchemy import SQLAlchemyStore

log = logging.getLogger("twofa_middleware")

REQUEST_KEY = "twofa.pyramid.request"  # the Pyramid request, for identify and sign_out
_HANDLER_KEY = "twofa.pyramid.handler"
_RESPONSE_KEY = "twofa.pyramid.response"
_REGISTRY_ATTR = "twofa_middleware"
_MISCONFIGURED = Refuse(500, "two_factor_misconfigured", N_("Two-factor authentication is not set up correctly."))

TokenIdentity = Callable[[Request, str], Any]


class Misconfigured(Exception):
    """The integration cannot tell who is signed in: the request is refused."""


def includeme(config: Configurator) -> None:
    """``config.include("twofa_middleware.integrations.pyramid")``: the directive and the tween."""
    config.add_directive("configure_twofa", configure_twofa)
    config.add_tween("twofa_middleware.integrations.pyramid.tween_factory", under=INGRESS)
    if config.get_settings().get("twofa.check_password"):
        configure_twofa(config)


def configure_twofa(
    config: Configurator,
    *,
    secret_key: Any = None,
    store: Any = None,
    check_password: Any = None,
    nonce_key: str | None = None,
    token_identity: TokenIdentity | None = None,
    **options: Any,
) -> None:
    """Set up two-factor authentication for this Pyramid app (also ``config.configure_twofa``).

    :param secret_key: default ``settings["twofa.secret_key"]``.
    :param store: default ``SQLAlchemyStore(settings["twofa.database_url"])``.
    :param check_password: ``check_password(user_id, password) -> bool`` or its
        dotted name; default ``settings["twofa.check_password"]``.
    :param nonce_key: the session key of the sign-in key (default ``twofa_nonce``).
    :param token_identity: ``token_identity(request, user_id)``: what
        ``request.identity`` is for a token request (default: the user id).
    :param options: any :class:`~twofa_middleware.config.Settings` field
        (``issuer``, ``login_url``, ``logout_url``, ``exempt_paths``...), ``notify``, ``clock``.
    """
    settings = config.get_settings() or {}
    options = {**_options_from(settings), **options}
    secret_key = secret_key or settings.get("twofa.secret_key")
    check_password = config.maybe_dotted(check_password or settings.get("twofa.check_password"))
    if store is None and settings.get("twofa.database_url"):
        store = SQLAlchemyStore(settings["twofa.database_url"])
    nonce_key = nonce_key or settings.get("twofa.nonce_key") or "twofa_nonce"
    missing = [name for name, value in (("secret_key", secret_key), ("store", store),
                                        ("check_password", check_password)) if not value]
    if missing:
        _fail(f"configure_twofa needs {', '.join(missing)} (or the twofa.* settings)")
    registry = config.registry

    def setup() -> None:
        # Runs after set_session_factory and set_security_policy (PHASE2), whatever
        # the order of the calls in the app's code.
        if registry.queryUtility(ISessionFactory) is None:
            _fail("no session factory: call config.set_session_factory(...); the sign-in key lives in the session")
        policy = registry.queryUtility(ISecurityPolicy)
        if policy is None:
            _fail("no security policy: call config.set_security_policy(...) before the app is made")
        wrapped = TwoFactorSecurityPolicy(policy, nonce_key, token_identity)
        registry.registerUtility(wrapped, ISecurityPolicy)
        fallback = security_policy_identify(registry, nonce_key=nonce_key)
        middleware = TwoFactorMiddleware(
            _downstream,
            secret_key=secret_key,
            store=store,
            identify=_identify(nonce_key, fallback),
            check_password=check_password,
            sign_out=_sign_out,
            **options,
        )
        setattr(registry, _REGISTRY_ATTR, _Installed(middleware, wrapped, nonce_key))

    config.action("twofa_middleware", setup)


def get_middleware(registry: Registry) -> TwoFactorMiddleware:
    """The app's :class:`TwoFactorMiddleware` (its service, store, cookies), e.g. for tests."""
    installed = getattr(registry, _REGISTRY_ATTR, None)
    if not isinstance(installed, _Installed):
        raise LookupError("twofa is not configured on this registry")
    return installed.middleware


class TwoFactorSecurityPolicy:
    """Wraps the app's security policy: a fresh sign-in key at ``remember``, and the
    token's owner as the user of a personal-access-token request."""

    def __init__(self, policy: Any, nonce_key: str, token_identity: TokenIdentity | None = None) -> None:
        self.policy = policy
        self.nonce_key = nonce_key
        self.token_identity = token_identity

    def identity(self, request: Request) -> Any:
        owner = token_owner(request)
        if owner is not None:
            return self.token_identity(request, owner) if self.token_identity else owner
        return self.policy.identity(request)

    def authenticated_userid(self, request: Request) -> Any:
        owner = token_owner(request)
        if owner is not None:
            return owner
        return self.policy.authenticated_userid(request)

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        return self.policy.permits(request, context, permission)

    def remember(self, request: Request, userid: Any, **kw: Any) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = list(self.policy.remember(request, userid, **kw) or [])
        new_sign_in(request, str(userid), self.nonce_key)  # after the policy: it may invalidate the session
        return headers

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = list(self.policy.forget(request, **kw) or [])
        session = request.session
        session.pop(self.nonce_key, None)
        session.pop(self.nonce_key + "_user", None)
        return headers


def token_owner(request: Request) -> str | None:
    """The owner of the personal access token this request was let in with, else None."""
    info = request.environ.get("twofa")
    if isinstance(info, TwoFactorInfo) and info.token_id is not None:
        owner = request.environ.get("REMOTE_USER")
        return owner if isinstance(owner, str) and owner == info.user_id else None
    return None


def new_sign_in(request: Request, user_id: str, nonce_key: str) -> str:
    """Put a fresh sign-in key for ``user_id`` in the session; the second factor is owed again."""
    nonce = secrets.token_urlsafe(24)
    request.session[nonce_key] = nonce
    request.session[nonce_key + "_user"] = user_id
    return nonce


def request_identity(request: Request, nonce_key: str) -> Identity | None:
    """The user Pyramid resolved for this request, with this sign-in's key.

    A user the policy knows but whose session holds no key for them (signed in by
    a remember-me cookie, an SSO ticket, anything but ``remember``) starts a new
    sign-in here: a fresh key, so the second factor is owed once, then kept.
    """
    userid = request.authenticated_userid
    if userid is None:
        return None
    user = str(userid)
    if token_owner(request) is not None:
        return Identity(user, "")  # a token carries no session; the guard compares the user only
    try:
        session = request.session
        nonce = session.get(nonce_key)
        owner = session.get(nonce_key + "_user")
        if not isinstance(nonce, str) or not nonce or owner != user:
            nonce = new_sign_in(request, user, nonce_key)
    except Exception as exc:  # an unreadable session, a broken factory
        # The exception's type only: a session backend's message may carry the session id.
        raise Misconfigured(f"the session cannot be read or written ({type(exc).__name__})") from exc
    return Identity(user, nonce)


# -- the pieces the tween puts together ----------------------------------------------------


class _Installed:
    def __init__(self, middleware: TwoFactorMiddleware, policy: TwoFactorSecurityPolicy, nonce_key: str) -> None:
        self.middleware = middleware
        self.policy = policy
        self.nonce_key = nonce_key


def _identify(nonce_key: str, fallback: IdentifyFunc) -> IdentifyFunc:
    def identify(environ: dict[str, Any]) -> Identity | None:
        request = environ.get(REQUEST_KEY)
        if isinstance(request, Request):
            return request_identity(request, nonce_key)
        return fallback(environ)  # outside the tween (forward auth, say): a read-only look

    return identify


def _downstream(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The app below the middleware: the in-app guard, then the rest of Pyramid."""
    request: Request = environ[REQUEST_KEY]
    installed: _Installed = getattr(request.registry, _REGISTRY_ATTR)
    middleware = installed.middleware
    try:
        identity = request_identity(request, installed.nonce_key)
    except Misconfigured as exc:
        log.error("twofa: %s; request refused", exc)
        return middleware.response(_MISCONFIGURED, environ)(environ, start_response)
    decision = middleware.guard(environ, identity)
    if not isinstance(decision, Pass):
        return middleware.response(decision, environ)(environ, start_response)
    environ["twofa"] = decision.info
    response = environ[_HANDLER_KEY](request)
    environ[_RESPONSE_KEY] = response
    return response(environ, start_response)  # type: ignore[no-any-return]


def _sign_out(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """``Settings.sign_out``: end the Pyramid sign-in of this request.

    Returns the policy's ``forget`` headers; the invalidated session's cookie is
    set by Pyramid's session callback on the same response.
    """
    request = environ.get(REQUEST_KEY)
    if not isinstance(request, Request):
        return []
    headers = forget(request)
    request.session.invalidate()
    return list(headers)


def tween_factory(handler: Callable[[Request], Response], registry: Registry) -> Callable[[Request], Response]:
    """The tween: the middleware around the rest of Pyramid (see the module's docs)."""
    installed = getattr(registry, _REGISTRY_ATTR, None)
    if not isinstance(installed, _Installed):
        _fail("config.include(...) without configure_twofa(...) or the twofa.* settings")
    middleware = installed.middleware

    def tween(request: Request) -> Response:
        if request.registry.queryUtility(ISecurityPolicy) is not installed.policy:
            log.error("twofa: the security policy was replaced after configure_twofa; request refused")
            return request.get_response(middleware.response(_MISCONFIGURED, request.environ))
        environ = request.environ
        environ[REQUEST_KEY] = request
        environ[_HANDLER_KEY] = handler
        try:
            response: Response = request.get_response(middleware)
        except Misconfigured as exc:
            log.error("twofa: %s; request refused", exc)
            response = request.get_response(middleware.response(_MISCONFIGURED, environ))
        finally:
            environ.pop(REQUEST_KEY, None)
            environ.pop(_HANDLER_KEY, None)
        own = environ.pop(_RESPONSE_KEY, None)
        # The app's own response object when it was served as it is (upper tweens see it).
        return own if isinstance(own, Response) else response

    return tween


def _fail(reason: str) -> NoReturn:
    log.error("twofa: %s; the app is not started", reason)
    raise ConfigurationError(f"twofa: {reason}")


def _options_from(settings: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("issuer", "mount", "login_url", "logout_url", "home_url"):
        if settings.get(f"twofa.{name}"):
            options[name] = settings[f"twofa.{name}"]
    if settings.get("twofa.exempt_paths"):
        options["exempt_paths"] = tuple(str(settings["twofa.exempt_paths"]).split())
    if settings.get("twofa.cache_seconds"):
        options["cache_seconds"] = float(settings["twofa.cache_seconds"])
    return options

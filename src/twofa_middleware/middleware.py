"""TwoFactorMiddleware: the request flow, and nothing else."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from .config import Settings
from .cookies import Cookies
from .crypto import KeyRing, SecretKey
from .decisions import Decisions
from .errors import InvalidToken, StoreUnavailable
from .identity import CheckPasswordFunc, IdentifyFunc, Identity, NotifyFunc, TwoFactorInfo
from .service import TwoFactorService
from .store.base import Store, TokenRecord, UserState
from .web.app import TwoFactorWeb
from .web.context import urls
from .web.http import error_json, secure

log = logging.getLogger("twofa_middleware")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class TwoFactorMiddleware:
    """Adds TOTP two-factor authentication to a WSGI app without touching its views.

    The app keeps its own sign-in; the middleware asks it who is signed in and
    whether a password is right, and serves its own pages under ``mount``.
    A signed-in user with 2FA on reaches the app only after passing the second
    factor in this sign-in. If the store cannot be reached, such users get a
    503 page: the middleware fails closed, never open. (A user already past the
    second factor keeps working on this process's cached state for at most
    ``cache_seconds``, the price of a hot path without database round trips.)

    .. code-block:: python

        app.wsgi_app = TwoFactorMiddleware(
            app.wsgi_app,
            secret_key=app.config["SECRET_KEY"],
            store=SQLAlchemyStore("sqlite:///twofa.db"),
            identify=session_identify(app),
            check_password=users.check_password,
            issuer="Example",
        )

    :param app: the WSGI app to protect.
    :param secret_key: signs cookies and derives the keys that encrypt TOTP
        secrets at rest. A list rotates keys: newest first, all accepted.
        Every instance of the app must share it.
    :param store: where 2FA state lives (:class:`SQLAlchemyStore`).
    :param identify: ``identify(environ) -> Identity | None``, the app's signed-in user.
    :param check_password: ``check_password(user_id, password) -> bool``.
    :param notify: optional ``notify(user_id, event)``, to email users about
        security events (``enabled``, ``disabled``, ``lockout``, ...).
    :param clock: seconds since the epoch; tests pass a fixed one.
    :param settings: any :class:`Settings` field as a keyword (``issuer``,
        ``mount``, ``exempt_paths``, ``cache_seconds``...).
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        secret_key: SecretKey | Sequence[SecretKey],
        store: Store,
        identify: IdentifyFunc,
        check_password: CheckPasswordFunc,
        notify: NotifyFunc | None = None,
        clock: Callable[[], float] = time.time,
        settings: Settings | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.settings = replace(settings or Settings(), **options)
        self.identify = identify
        keyring = KeyRing(secret_key)
        self.cookies = Cookies(self.settings, keyring)
        self.service = TwoFactorService(self.settings, keyring, store, check_password, notify, clock)
        self.web = TwoFactorWeb(self.settings, self.service, self.cookies, identify)
        self.urls = urls(self.settings)
        self._mount_prefix = self.settings.mount + "/"
        self._exempt = tuple(self.settings.exempt_paths)
        self._anonymous = TwoFactorInfo(None, False, False, self.urls)
        self._token_infos: dict[int, tuple[TokenRecord, TwoFactorInfo]] = {}
        self.decisions = (
            Decisions(self.settings.cache_seconds, self.service.state)
            if getattr(identify, "keyed_by_cookie", False)
            else None
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "") or "/"
        if path.startswith(self._mount_prefix) or path == self.settings.mount:
            return self.web(environ, start_response)

        authorization: str = environ.get("HTTP_AUTHORIZATION", "")
        if authorization[:7].lower() == "bearer ":
            return self._token_request(environ, start_response, authorization[7:].strip(), path)

        # Steady state: these very cookies passed a moment ago (see decisions.py).
        cookie: str = environ.get("HTTP_COOKIE", "")
        if cookie and self.decisions is not None:
            info = self.decisions.get(cookie)
            if info is not None:
                environ["twofa"] = info
                return self.app(environ, start_response)

        identity = self.identify(environ)
        if identity is None:
            environ["twofa"] = self._anonymous
            return self.app(environ, start_response)

        try:
            state = self.service.state(identity.user_id)
        except StoreUnavailable as exc:
            return self.web.error_response(environ, exc)(environ, start_response)

        if not state.enabled:
            required = self.settings.require_enrollment
            if required is not None and not self._is_exempt(path) and required(identity.user_id):
                return secure(self.web.challenge_enroll(environ))(environ, start_response)
            info = TwoFactorInfo(identity.user_id, False, True, self.urls)
            if required is None:
                self._remember(cookie, identity, state, info)
            environ["twofa"] = info
            return self.app(environ, start_response)

        verified_until = self.cookies.verified_until(environ, identity, state.epoch)
        if verified_until is not None:
            info = TwoFactorInfo(identity.user_id, True, True, self.urls, state.recovery_codes_left)
            self._remember(cookie, identity, state, info, verified_until)
            environ["twofa"] = info
            return self.app(environ, start_response)
        if self._is_exempt(path):
            environ["twofa"] = TwoFactorInfo(
                identity.user_id, True, False, self.urls, state.recovery_codes_left
            )
            return self.app(environ, start_response)

        return secure(self.web.challenge(environ))(environ, start_response)

    def _is_exempt(self, path: str) -> bool:
        """``/logout`` covers ``/logout`` and ``/logout/...``, not ``/logout-everywhere``;
        an entry ending in ``/`` (``/static/``) covers everything below it."""
        for prefix in self._exempt:
            if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return True
        return False

    def _remember(
        self, cookie: str, identity: Identity, state: UserState, info: TwoFactorInfo, until: float | None = None
    ) -> None:
        if cookie and self.decisions is not None:
            self.decisions.remember(cookie, identity, state, info, until)

    def _token_request(
        self, environ: dict[str, Any], start_response: Callable[..., Any], token: str, path: str
    ) -> Iterable[bytes]:
        """A personal access token stands in for the whole sign-in; any fault is a 401, never a page."""
        try:
            record = self.service.authenticate_token(token, path)
        except InvalidToken as exc:
            response = error_json(exc.code, exc.message, 401)
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response(environ, start_response)
        except StoreUnavailable as exc:
            return error_json(exc.code, exc.message, 503)(environ, start_response)
        required = self.settings.require_enrollment
        if required is not None and required(record.user_id):
            try:
                enrolled = self.service.state(record.user_id).enabled
            except StoreUnavailable as exc:
                return error_json(exc.code, exc.message, 503)(environ, start_response)
            if not enrolled:
                return error_json(
                    "two_factor_enrollment_required", "Set up two-factor authentication first.", 403
                )(environ, start_response)
        # The token is the whole sign-in: no session cookie rides along, so a
        # token can never lend its exemption from 2FA to someone's session.
        environ.pop("HTTP_COOKIE", None)
        environ["REMOTE_USER"] = record.user_id
        environ["twofa"] = self._token_info(record)
        return self.app(environ, start_response)

    def _token_info(self, record: TokenRecord) -> TwoFactorInfo:
        """One TwoFactorInfo per cached token record: the steady state builds nothing.

        Keyed by the record's id, and used only while it is the very record the
        service's cache holds (``is``), so a revoked or reloaded token never
        gets another record's info."""
        entry = self._token_infos.get(record.id)
        if entry is not None and entry[0] is record:
            return entry[1]
        info = TwoFactorInfo(record.user_id, False, True, self.urls, None, record.id, record.name, record.paths)
        if len(self._token_infos) >= 20_000:
            self._token_infos.clear()
        self._token_infos[record.id] = (record, info)
        return info

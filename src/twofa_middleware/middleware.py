"""TwoFactorMiddleware: the request flow, and nothing else."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from werkzeug.wrappers import Response

from .cache import TTLCache
from .config import Settings
from .cookies import Cookies, is_https
from .crypto import KeyRing, SecretKey
from .decision import Challenge, Decision, Facts, Pass, Policy, Refuse, decide, token_info
from .errors import InvalidToken, StoreUnavailable
from .i18n import N_
from .identity import CheckPasswordFunc, CookieKeyedIdentify, IdentifyFunc, Identity, NotifyFunc, TwoFactorInfo
from .pass_cache import PassCache, TokenPasses
from .service import TwoFactorService
from .store.base import Store, TokenRecord, TrustedBrowserRecord
from .web.app import TwoFactorWeb
from .web.http import error_json, secure, with_language

log = logging.getLogger("twofa_middleware")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_ASK = object()  # facts(): ask ``identify`` who is signed in


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
        # The function itself, one call fewer per request (the wrapper is only a label).
        plain = type(identify).__call__ is CookieKeyedIdentify.__call__
        self._identify: IdentifyFunc = identify.identify if plain else identify  # type: ignore[attr-defined]
        keyring = KeyRing(secret_key)
        self.cookies = Cookies(self.settings, keyring, clock)
        self.service = TwoFactorService(self.settings, keyring, store, check_password, notify, clock)
        self.web = TwoFactorWeb(self.settings, self.service, self.cookies, identify)
        self.urls = self.web.urls.links()
        self._mount = self.settings.mount
        self._mount_prefix = self._mount + "/"
        self._enrollment_hooks = self.settings.enroll_by is not None or self.settings.require_enrollment is not None
        self.policy = Policy(tuple(self.settings.exempt_paths), self.urls)
        self._token_passes: dict[int, tuple[TokenRecord, Pass]] = {}
        self.token_passes = TokenPasses(self.service.token_records, self.service.listener)
        self._cookie_label = identify if isinstance(identify, CookieKeyedIdentify) else None
        self.passes = (
            PassCache(self.settings.cache_seconds, self.service.state, clock=clock)
            if self._cookie_label is not None and self._cookie_label.keyed_by_cookie
            else None
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "") or "/"
        if path.startswith(self._mount_prefix) or path == self._mount:
            return self.web(environ, start_response)
        token = _bearer(environ) if "HTTP_AUTHORIZATION" in environ else None
        if token is not None:
            # A remembered token pass holds on any path but one decide() refuses outright.
            decided = self.token_passes.get(token, self.service.clock()) if "/." not in path else None
            if decided is not None:  # a script's steady state: one keyed hash, one dict lookup
                return self.render(decided, environ, start_response)
        elif "/." not in path and (passes := self._cookie_passes()) is not None:
            # identify reads the Cookie header alone, and the path is one decide() would not refuse
            cookie: str | None = environ.get("HTTP_COOKIE")
            if not cookie:  # so nobody is signed in: decide()'s answer for nobody
                return self.render(self.policy.nobody, environ, start_response)
            remembered = passes.get(cookie)
            if remembered is not None:  # a browser's steady state: one dict lookup
                environ["twofa"] = remembered
                return self.app(environ, start_response)
        return self.render(self._decide(environ, path, token), environ, start_response)

    def decision(self, environ: dict[str, Any], path: str) -> Decision:
        """The decision for a request to the app at ``path``; forward auth asks this too."""
        token = _bearer(environ)
        remembered = self._remembered(environ) if token is None and "/." not in path else None
        return Pass(remembered) if remembered is not None else self._decide(environ, path, token)

    def _remembered(self, environ: dict[str, Any]) -> TwoFactorInfo | None:
        """A pass these very cookies got a moment ago (see pass_cache.py), else None.
        Never asked for a request with a token: the token decides those."""
        cookie: str | None = environ.get("HTTP_COOKIE")
        passes = self._cookie_passes()
        return passes.get(cookie) if cookie and passes is not None else None

    def _cookie_passes(self) -> PassCache | None:
        """The pass cache while identify still reads the Cookie header alone, else None, for
        good: an app whose session moved off the cookie never has passes kept by it again.
        The cache is emptied too, so a request that took it a moment before finds nothing
        in it. (An app that swaps its session interface while serving still races its own
        requests: swap it before the first one.)"""
        passes = self.passes
        if passes is not None and (self._cookie_label is None or not self._cookie_label.keyed_by_cookie):
            self.passes = None
            passes.clear()
            return None
        return passes

    def _decide(self, environ: dict[str, Any], path: str, token: str | None) -> Decision:
        generation = self.service.token_records.generation  # before the token's record is read
        facts = self._token_facts(token, path) if token is not None else self._session_facts(environ, path)
        decided = decide(facts, self.policy)
        if isinstance(decided, Pass):
            if decided.trusted_by is not None:
                self._note_trusted(decided.trusted_by, environ)
            elif facts.token is not None:
                self.service.note_token_use(facts.token, facts.now)
                self._remember_token(token, facts.token, generation, decided)
            elif decided.remember_until is not None:
                self._remember(environ.get("HTTP_COOKIE", ""), facts, decided)
        return decided

    def _remember_token(self, token: str | None, record: TokenRecord, generation: int, decided: Pass) -> None:
        """Keep a token's pass when it holds on every path: the token has no path scopes,
        and no enrollment policy makes it depend on the user's state."""
        if token is None or record.paths or self._enrollment_hooks:
            return
        ends = self.service.next_stamp(record)  # the full path stamps the use, once a minute
        if record.expires_at is not None:
            ends = min(ends, record.expires_at)
        self.token_passes.remember(token, record, generation, decided, ends)

    def caches(self) -> dict[str, TTLCache[Any, Any]]:
        """Every in-process cache by name (to weigh them, or to fill them in a benchmark)."""
        out: dict[str, TTLCache[Any, Any]] = {
            "states": self.service.states, "verified_cookies": self.cookies.verified_cache,
        }
        if self.passes is not None:
            out["passes"] = self.passes.cache
        if isinstance(self.identify, CookieKeyedIdentify) and self.identify.cache is not None:
            out["sessions"] = self.identify.cache
        return out

    def forget_cached(self) -> None:
        """Drop every in-process cache (states, tokens, remembered passes), as a restart would."""
        self.service.forget_cached()
        self.token_passes.clear()
        if self.passes is not None:
            self.passes.clear()
        if isinstance(self.identify, CookieKeyedIdentify) and self.identify.cache is not None:
            self.identify.cache.clear()

    def guard(self, environ: dict[str, Any], identity: Identity | None) -> Decision:
        """The decision for the user a framework resolved itself: for in-app guards.

        Frameworks sign users in by channels the middleware cannot see from
        outside (remember-me cookies, custom loaders, SSO callbacks). An
        integration calls this once it knows its user: when it is the user the
        middleware decided for, that decision stands; when it is another (the
        middleware saw nobody, say), the decision is taken now for the app's
        user, on this request's cookies. A request the middleware never saw
        is refused: the guard is installed but the middleware is not.
        """
        info = environ.get("twofa")
        if not isinstance(info, TwoFactorInfo):
            log.error("twofa: the in-app guard ran on a request the middleware never saw; refused")
            return Refuse(500, "two_factor_not_installed", N_("Two-factor authentication is not set up correctly."))
        if identity is None or identity.user_id == info.user_id:
            # Nobody, as the app sees it, is never a bypass: the app serves no one's data.
            return Pass(info)
        path: str = environ.get("PATH_INFO", "") or "/"
        decided = decide(self.facts(environ, path, identity), self.policy)
        if isinstance(decided, Pass) and decided.trusted_by is not None:
            self._note_trusted(decided.trusted_by, environ)
        return decided

    def forget_browsers(self, user_id: str) -> int:
        """End every "Remember this browser" of the user: call it when the app changes
        the user's password (or suspects the account). Their next sign-in in any
        browser asks for the code again, in every instance at once (trust is looked
        up in the store at each new sign-in, never cached). Logged as
        ``browsers_forgotten``; returns how many browsers were trusted."""
        return self.service.forget_browsers(user_id)

    def pass_headers(self, decision: Pass, environ: dict[str, Any]) -> list[tuple[str, str]]:
        """The headers a renderer adds to the app's response for this pass: the verified
        cookie of a sign-in a trusted browser spared the code, so the next request is
        the steady state again. Empty for every other pass."""
        if decision.trusted_by is None or decision.identity is None:
            return []
        value = self.cookies.verified_value(decision.identity, decision.trusted_by.epoch)
        return [self.cookies.header(self.cookies.verified_name, value, secure=is_https(environ),
                                    max_age=self.settings.verified_max_age)]

    def _note_trusted(self, record: TrustedBrowserRecord, environ: dict[str, Any]) -> None:
        # At most once a minute: a renderer that cannot pass the cookie on asks at every request.
        if (record.last_used_at or 0) < self.service.clock() - 60:
            self.service.note_browser_use(record, environ.get("REMOTE_ADDR"))

    # -- the facts of a request, gathered once --------------------------------------

    def facts(self, environ: dict[str, Any], path: str, identity: Identity | object | None = _ASK) -> Facts:
        """What :func:`decide` needs to know of this request. ``identity`` is the
        signed-in user when the caller knows it already (an in-app guard), else
        ``identify`` is asked."""
        token = _bearer(environ)
        if token is not None:
            return self._token_facts(token, path)
        return self._session_facts(environ, path, identity)

    def _session_facts(self, environ: dict[str, Any], path: str, identity: Identity | object | None = _ASK) -> Facts:
        user = self._identify(environ) if identity is _ASK else identity
        if not isinstance(user, Identity):
            return Facts(path)
        try:
            state = self.service.state(user.user_id)
        except StoreUnavailable:
            return Facts(path, user, store_down=True)
        if not state.enabled:
            deadline = self.settings.enrollment_deadline(user.user_id)
            return Facts(path, user, state, None, deadline is not None, _grace(deadline), now=self.service.clock())
        verified_until = self.cookies.verified_until(environ, user, state.epoch)
        if verified_until is not None or not user.session_key:
            return Facts(path, user, state, verified_until)
        # A new sign-in (no verified cookie): never the steady state, so the store may be asked.
        candidates = self.cookies.trusted_candidates(environ)
        browser = self.service.presented_browser(candidates) if candidates else None
        return Facts(path, user, state, None, now=self.service.clock(), trusted_browser=browser)

    def _token_facts(self, token: str, path: str) -> Facts:
        now = self.service.clock()  # read once: the token caches and decide() judge by it
        state = deadline = None
        try:
            record = self.service.token_record(token, now)
            if record is None:
                return Facts(path, token_refused=InvalidToken.code, now=now)
            if self._enrollment_hooks:
                deadline = self.settings.enrollment_deadline(record.user_id)
                state = self.service.state(record.user_id) if deadline is not None else None
        except StoreUnavailable:
            return Facts(path, store_down=True, now=now)
        entry = self._token_passes.get(record.id)
        decided = entry[1] if entry is not None and entry[0] is record else self._token_pass(record)
        # Positional: keyword arguments cost a slotted class's __init__ twice as much, on every call.
        return Facts(path, None, state, None, state is not None, None if state is None else _grace(deadline),
                     record, None, decided, False, now)

    def _token_pass(self, record: TokenRecord) -> Pass:
        """One Pass per cached token record: the steady state builds none (decide() still
        judges each request; this is only what it answers when the token may pass).

        Used only while it is the very record the service's cache holds (``is``),
        so a revoked or reloaded token never gets another record's info."""
        decided = Pass(token_info(record, self.urls))
        if len(self._token_passes) >= 20_000:
            self._token_passes.clear()
        self._token_passes[record.id] = (record, decided)
        return decided

    # -- rendering the decision ----------------------------------------------------------

    def render(
        self, decision: Decision, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Pass to the app, or answer for it: the one place a decision becomes a response."""
        if isinstance(decision, Pass):
            info = decision.info
            if info.token_id is not None:
                # The token is the whole sign-in: no session cookie rides along, so a
                # token can never lend its exemption from 2FA to someone's session.
                environ.pop("HTTP_COOKIE", None)
                environ["REMOTE_USER"] = info.user_id
            environ["twofa"] = info
            if decision.trusted_by is not None:
                return self.app(environ, _adding(start_response, self.pass_headers(decision, environ)))
            return self.app(environ, start_response)
        return self.response(decision, environ)(environ, start_response)

    def response(self, decision: Challenge | Refuse, environ: dict[str, Any]) -> Response:
        """The answer for a request that does not reach the app (for the in-app guards too)."""
        if isinstance(decision, Challenge):
            if decision.step == "enroll":
                return secure(self.web.challenge_enroll(environ))
            return secure(self.web.challenge(environ))
        if decision.status == 503:
            return self.web.error_response(environ, StoreUnavailable())
        language = self.web.language(environ)
        response = with_language(
            error_json(decision.code, language.gettext(decision.message), decision.status), language.tag
        )
        if decision.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    def _remember(self, cookie: str, facts: Facts, decision: Pass) -> None:
        passes = self._cookie_passes() if cookie else None
        if passes is not None and facts.identity is not None and facts.state is not None:
            passes.remember(cookie, facts.identity, facts.state, decision.info, decision.remember_until)


def _grace(deadline: float | None) -> float | None:
    """The end of a grace period, from Settings.enrollment_deadline's answer (-inf: none)."""
    return deadline if deadline is not None and deadline != float("-inf") else None


def _bearer(environ: dict[str, Any]) -> str | None:
    """The token of an ``Authorization: Bearer`` header (perhaps empty: refused as not
    ours), None when the request carries none. The scheme is case-insensitive."""
    header = environ.get("HTTP_AUTHORIZATION")
    if not header:
        return None
    if not isinstance(header, str):
        header = str(header)
    # The usual spelling first: no lower-cased copy on the hot path.
    if header[:7] != "Bearer " and header[:7].lower() != "bearer ":
        return None
    return header[7:].strip()


def _adding(start_response: Callable[..., Any], extra: list[tuple[str, str]]) -> Callable[..., Any]:
    """``start_response`` adding ``extra`` headers to the app's own."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, *extra], exc_info)

    return start

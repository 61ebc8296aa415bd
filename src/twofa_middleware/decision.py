"""The one decision: what happens to a request for the app, as a pure function of its facts.

The WSGI middleware, forward auth and the in-app guards of the framework
integrations each gather the facts of a request in their own way (cookies, the
store, a token, the user the framework signed in), call :func:`decide`, and
render the value it returns. None of them decides anything itself, and none
reads another's response to learn what was decided: "verified" is computed here
and nowhere else.

The values are plain slotted dataclasses, never changed once made: a frozen
dataclass costs several microseconds more to create, on every request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .errors import InvalidToken, StoreUnavailable
from .i18n import N_
from .identity import Identity, TwoFactorInfo
from .store.base import TokenRecord, TrustedBrowserRecord, UserState
from .tokens import path_allowed


@dataclass(slots=True)
class Facts:
    """Everything :func:`decide` looks at; gathering them is the caller's part.

    :param path: the path the app will serve (``PATH_INFO``).
    :param identity: the signed-in user, as the app says; None for nobody.
    :param state: that user's 2FA state; None when it could not be read
        (the store is down), or when there is no user.
    :param verified_until: when this sign-in's valid proof of the second
        factor (the verified cookie) expires; None when it has none.
    :param enrollment_required: the app's policy requires this user to have 2FA.
    :param enroll_by: when a required user's grace period ends (seconds since
        the epoch); None: it has ended, or there is none. Judged against ``now``.
    :param token: the live record of the request's personal access token.
    :param token_refused: the request carried a token that is not one of
        ours, or not well formed (the error code to answer with).
    :param token_pass: the pass for ``token``, when the caller keeps one per token
        record (else it is made here): the steady state makes none.
    :param store_down: the store could not be read: fail closed.
    :param trusted_browser: the live trusted-browser record this request's
        cookie proves ("Remember this browser"), gathered only for a signed-in
        user with 2FA on and no verified cookie (a new sign-in); it spares the
        code only when it is this user's, of this enrollment, and not expired.
    :param now: seconds since the epoch (judged against for tokens and grace periods).
    """

    path: str
    identity: Identity | None = None
    state: UserState | None = None
    verified_until: float | None = None
    enrollment_required: bool = False
    enroll_by: float | None = None
    token: TokenRecord | None = None
    token_refused: str | None = None
    token_pass: Pass | None = None
    store_down: bool = False
    now: float = 0.0
    trusted_browser: TrustedBrowserRecord | None = None


@dataclass(slots=True)
class Pass:
    """Let the request reach the app, with ``info`` as ``environ["twofa"]``.

    :param remember_until: the pass may be remembered for these very cookies
        until then (the steady state); None: never remembered.
    :param trusted_by: the trusted browser that spared the code at this new
        sign-in: the renderer issues the verified cookie for this sign-in (see
        :meth:`~.middleware.TwoFactorMiddleware.pass_headers`) and stamps its use.
    """

    info: TwoFactorInfo
    remember_until: float | None = None
    trusted_by: TrustedBrowserRecord | None = None
    identity: Identity | None = None  # the sign-in the verified cookie is for, with ``trusted_by``


@dataclass(slots=True)
class Challenge:
    """The user owes the second factor (``verify``) or, under a policy, an enrollment (``enroll``)."""

    step: Literal["verify", "enroll"]
    user_id: str


@dataclass(slots=True)
class Refuse:
    """Answer ``status`` with the stable ``code``; the app is not reached. ``message`` is an
    English msgid, translated when the answer is made."""

    status: int
    code: str
    message: str


Decision = Pass | Challenge | Refuse

_NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Policy:
    """What :func:`decide` needs of the settings."""

    exempt_paths: tuple[str, ...]
    urls: dict[str, str]
    nobody: Pass = field(init=False)  # one pass for every anonymous request: none is made per request

    def __post_init__(self) -> None:
        object.__setattr__(self, "nobody", Pass(TwoFactorInfo(None, False, False, self.urls)))

    def is_exempt(self, path: str) -> bool:
        """``/logout`` covers ``/logout`` and ``/logout/...``, not ``/logout-everywhere``;
        an entry ending in ``/`` (``/static/``) covers everything below it."""
        for prefix in self.exempt_paths:
            if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
                return True
        return False


def decide(facts: Facts, policy: Policy) -> Decision:
    """What happens to a request for the app (not for the middleware's own pages)."""
    path = facts.path
    if "/." in path and _has_dot_segment(path):
        # Exempt paths and token scopes are prefixes of the path as sent; a router
        # that resolves dot segments (Pyramid's traversal) would serve another one.
        return Refuse(400, "ambiguous_request", N_("The path has '.' or '..' segments."))
    if facts.store_down:
        return Refuse(503, StoreUnavailable.code, StoreUnavailable.message)
    if facts.token_refused is not None:
        return Refuse(401, facts.token_refused, InvalidToken.message)
    record = facts.token
    if record is not None:  # a personal access token stands in for the whole sign-in, second factor included
        if not token_usable(record, path, facts.now):
            return Refuse(401, InvalidToken.code, InvalidToken.message)
        if facts.enrollment_required and (facts.state is None or not facts.state.enabled) and not _in_grace(facts):
            return Refuse(403, "two_factor_enrollment_required", N_("Set up two-factor authentication first."))
        return facts.token_pass or Pass(token_info(record, policy.urls))
    identity = facts.identity
    if identity is None:
        return policy.nobody
    state = facts.state
    if state is None:  # facts without the user's state: nothing to judge by
        return Refuse(503, StoreUnavailable.code, StoreUnavailable.message)
    if not state.enabled:
        if facts.enrollment_required and facts.enroll_by is not None and _in_grace(facts):
            return _grace_pass(facts, identity, policy, facts.enroll_by)
        if facts.enrollment_required and not policy.is_exempt(facts.path):
            return Challenge("enroll", identity.user_id)
        info = TwoFactorInfo(identity.user_id, False, True, policy.urls)
        # Under an enrollment policy, a pass on an exempt path says nothing about the next path.
        return Pass(info, None if facts.enrollment_required else _until(identity, None))
    if facts.verified_until is not None and identity.session_key:
        info = TwoFactorInfo(identity.user_id, True, True, policy.urls, state.recovery_codes_left)
        return Pass(info, _until(identity, facts.verified_until))
    if identity.session_key and browser_trusted(facts.trusted_browser, identity, state, facts.now):
        info = TwoFactorInfo(identity.user_id, True, True, policy.urls, state.recovery_codes_left)
        # Never remembered: the next request carries the verified cookie instead.
        return Pass(info, None, facts.trusted_browser, identity)
    if policy.is_exempt(facts.path):
        return Pass(TwoFactorInfo(identity.user_id, True, False, policy.urls, state.recovery_codes_left))
    return Challenge("verify", identity.user_id)


def browser_trusted(
    record: TrustedBrowserRecord | None, identity: Identity, state: UserState, now: float
) -> bool:
    """The record spares this user the code: theirs (a cookie names no one: a browser
    another user trusted spares nothing to this one), of the current enrollment,
    not revoked, not expired."""
    return (
        record is not None
        and record.user_id == identity.user_id
        and record.epoch == state.epoch
        and record.revoked_at is None
        and record.expires_at > now
    )


def _in_grace(facts: Facts) -> bool:
    return facts.enroll_by is not None and facts.now < facts.enroll_by


def _grace_pass(facts: Facts, identity: Identity, policy: Policy, deadline: float) -> Pass:
    """A required user before the deadline: let in, told the days left.

    Remembered only until the count of days left changes (at the deadline, the
    last time): a remembered pass never lets anyone in past the deadline."""
    days_left = max(1, math.ceil((deadline - facts.now) / 86400))
    changes_at = deadline - (days_left - 1) * 86400
    info = TwoFactorInfo(
        identity.user_id, False, True, policy.urls,
        enroll_by=datetime.fromtimestamp(deadline, UTC), enroll_days_left=days_left,
    )
    return Pass(info, min(_until(identity, None), changes_at))


def token_info(record: TokenRecord, urls: dict[str, str]) -> TwoFactorInfo:
    """What the app finds in ``environ["twofa"]`` for a request let in by this token."""
    return TwoFactorInfo(record.user_id, False, True, urls, None, record.id, record.name, record.paths)


def token_usable(record: TokenRecord, path: str, now: float) -> bool:
    """Live (not revoked, not expired) and allowed on ``path``."""
    expired = record.expires_at is not None and record.expires_at <= now
    return record.revoked_at is None and not expired and (not record.paths or path_allowed(path, record.paths))


def _has_dot_segment(path: str) -> bool:
    """A ``.`` or ``..`` segment; the caller has seen ``/.`` in the path (the usual path has none)."""
    return any(segment in (".", "..") for segment in path.split("/"))


def _until(identity: Identity, verified_until: float | None) -> float:
    """The earliest of the verified cookie's and the app session's ends."""
    ends = [t for t in (verified_until, identity.expires_at) if t is not None]
    return min(ends) if ends else _NEVER

"""Who is signed in, as the wrapped app tells the middleware."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .cache import TTLCache


@dataclass(frozen=True, slots=True)
class Identity:
    """The app's signed-in user.

    :param user_id: the app's stable identifier for the user.
    :param session_key: a value that changes at every sign-in (a login nonce
        kept in the app's session). The verified state is bound to it, so a
        new sign-in always asks for the second factor again.
    :param expires_at: when the signed value this identity was read from stops
        being valid (seconds since the epoch), if known: no cache keeps a
        decision about it longer.
    """

    user_id: str
    session_key: str
    expires_at: float | None = field(default=None, compare=False)


class IdentifyFunc(Protocol):
    """Returns the signed-in user of a request, or None when nobody is."""

    def __call__(self, environ: dict[str, Any]) -> Identity | None: ...


class CookieKeyedIdentify:
    """An ``identify`` whose answer depends on the ``Cookie`` header alone.

    Wrapped in this, it tells the middleware so: the middleware then remembers
    its pass decisions by the raw header, and the steady state is one dict
    lookup (see :mod:`twofa_middleware.pass_cache`). Never wrap an identify that
    reads anything else (a header, the client's address, server-side state that
    can end while the cookie stays the same).

    :param identify: the function.
    :param cache: its own cache of answers by header, if it keeps one: tests and
        the benchmark look at it, and :meth:`TwoFactorMiddleware.forget_cached` empties it.
    """

    __slots__ = ("cache", "identify")

    @property
    def keyed_by_cookie(self) -> bool:
        """The answer depends on the Cookie header alone. A subclass whose source can move
        elsewhere (a Flask app's session interface swapped for a server-side one) answers
        False then; the middleware asks on every request it would answer from the header."""
        return True

    def __init__(self, identify: IdentifyFunc, cache: TTLCache[str, Identity] | None = None) -> None:
        self.identify = identify
        self.cache = cache

    def __call__(self, environ: dict[str, Any]) -> Identity | None:
        return self.identify(environ)


class CheckPasswordFunc(Protocol):
    """True when ``password`` is the user's current password."""

    def __call__(self, user_id: str, password: str) -> bool: ...


class NotifyFunc(Protocol):
    """Told of security events (``enabled``, ``disabled``, ``lockout``, ``browser_trusted``
    (a browser will skip the code: worth an e-mail), ``browser_revoked``, ``browsers_revoked``,
    ``browsers_forgotten``...)."""

    def __call__(self, user_id: str, event: str) -> None: ...


@dataclass(frozen=True, slots=True)
class TwoFactorInfo:
    """What the wrapped app finds in ``environ["twofa"]``.

    :param user_id: the signed-in user (or a token's owner), else None.
    :param enabled: the user has two-factor authentication on.
    :param verified: this sign-in has passed the second factor (or it is not needed).
    :param recovery_codes_left: unused recovery codes, when enabled.
    :param urls: the middleware's pages, for links in the app's own settings:
        ``account``, ``setup``, ``verify``, ``recovery_codes``, ``disable``, ``tokens``.
    :param token_id: set when the request was authenticated by a personal access token.
    :param token_name: that token's name.
    :param token_paths: the path prefixes the token is limited to (empty: all).
    :param enroll_by: a user who must set up 2FA and is still in the grace
        period (``Settings.enroll_by``): the deadline, an aware UTC datetime.
    :param enroll_days_left: then, the days left before it, rounded up (1 on the last day).
    """

    user_id: str | None
    enabled: bool
    verified: bool
    urls: dict[str, str]
    recovery_codes_left: int | None = None
    token_id: int | None = None
    token_name: str | None = None
    token_paths: tuple[str, ...] = ()
    enroll_by: datetime | None = None
    enroll_days_left: int | None = None

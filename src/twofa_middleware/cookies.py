"""Signed cookies (itsdangerous) and CSRF tokens, each bound to one sign-in.

Every value names the user and a hash of the app's session key, so a cookie
from another user or an earlier sign-in is worthless. One salt per purpose.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict
from werkzeug.http import dump_cookie
from werkzeug.sansio.http import parse_cookie as _parse_cookie

from .cache import TTLCache
from .config import Settings
from .crypto import KeyRing
from .identity import Identity


def session_hash(identity: Identity) -> str:
    """Short, non-reversible stand-in for the app's session key."""
    return hashlib.sha256(identity.session_key.encode("utf-8")).hexdigest()[:32]


def _signer_on(clock: Callable[[], float]) -> type[TimestampSigner]:
    """itsdangerous' timestamp signer reading ``clock``: signed and checked on the middleware's one clock."""

    class ClockedSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock())

    return ClockedSigner


class Cookies:
    """Reads and writes the middleware's cookies for one configuration.

    :param clock: seconds since the epoch: when cookies are signed, and how old they are.
    """

    def __init__(self, settings: Settings, keyring: KeyRing, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.keyring = keyring
        self.clock = clock
        keys = keyring.signing_keys()
        signer = _signer_on(clock)
        self._verified = URLSafeTimedSerializer(keys, salt="twofa.verified", signer=signer)
        self._sudo = URLSafeTimedSerializer(keys, salt="twofa.sudo", signer=signer)
        self._trusted = URLSafeTimedSerializer(keys, salt="twofa.trusted", signer=signer)
        prefix = settings.cookie_prefix
        self.verified_name = f"{prefix}_verified"
        self.sudo_name = f"{prefix}_sudo"
        self.trusted_name = f"{prefix}_trusted"
        # Raw cookie value -> decoded payload: a verified request costs a dict
        # lookup, not an HMAC. Entries end when the signature would expire.
        self.verified_cache: TTLCache[str, tuple[str, str, int, float]] = TTLCache(
            ttl=float(settings.verified_max_age), maxsize=20_000, clock=clock
        )

    # -- verified: this sign-in passed the second factor --------------------

    def verified_value(self, identity: Identity, epoch: int) -> str:
        return self._verified.dumps([identity.user_id, session_hash(identity), epoch])

    def load_verified(self, value: str) -> tuple[str, str, int, float] | None:
        """``(user_id, session_hash, epoch, signed_at)`` of a valid cookie, else None."""
        try:
            payload, signed_at = self._verified.loads(
                value, max_age=self.settings.verified_max_age, return_timestamp=True
            )
            user_id, shash, epoch = payload
        except (BadSignature, TypeError, ValueError):
            return None
        if not (isinstance(user_id, str) and isinstance(shash, str) and isinstance(epoch, int)):
            return None
        return user_id, shash, epoch, signed_at.timestamp()

    def is_verified(self, environ: dict[str, Any], identity: Identity, epoch: int) -> bool:
        """The request carries a verified cookie for this user, sign-in and enrollment."""
        return self.verified_until(environ, identity, epoch) is not None

    def verified_until(self, environ: dict[str, Any], identity: Identity, epoch: int) -> float | None:
        """When the request's verified cookie for this user, sign-in and enrollment expires; None if it is not one."""
        if not identity.session_key:
            return None  # nothing to bind the verified state to: never verified
        # Any valid one of several: a stale cookie of another path or domain, or
        # one tossed in by a sibling subdomain, must not lock the user out.
        for value in read_cookies(environ, self.verified_name)[:4]:
            expires_at = self._verified_for(value, identity, epoch)
            if expires_at is not None:
                return expires_at
        return None

    def _verified_for(self, value: str, identity: Identity, epoch: int) -> float | None:
        payload = self.verified_cache.get(value)
        if payload is None:
            loaded = self.load_verified(value)
            if loaded is None:
                return None
            user_id, shash, cookie_epoch, signed_at = loaded
            payload = (user_id, shash, cookie_epoch, signed_at + self.settings.verified_max_age)
            self.verified_cache.set(value, payload, ttl=payload[3] - self.clock())
        user_id, shash, cookie_epoch, expires_at = payload
        if (
            user_id == identity.user_id
            and cookie_epoch == epoch
            and hmac.compare_digest(shash, session_hash(identity))
        ):
            return expires_at
        return None

    # -- sudo: the password was re-confirmed recently -----------------------

    def sudo_value(self, identity: Identity) -> str:
        return self._sudo.dumps([identity.user_id, session_hash(identity)])

    def sudo_valid(self, value: str | None, identity: Identity) -> bool:
        if not value:
            return False
        try:
            user_id, shash = self._sudo.loads(value, max_age=self.settings.sudo_seconds)
        except (BadSignature, TypeError, ValueError):
            return False
        return user_id == identity.user_id and isinstance(shash, str) and hmac.compare_digest(
            shash, session_hash(identity)
        )

    # -- trusted: "Remember this browser" ----------------------------------

    def trusted_value(self, browser_id: int, secret: str) -> str:
        return self._trusted.dumps([browser_id, secret])

    def trusted_candidates(self, environ: dict[str, Any]) -> list[tuple[int, str]]:
        """``(record id, secret)`` of the request's well-signed trusted-browser cookies
        (at most two, so a stuffed header cannot make many lookups). They name no
        user: the record they point to must be the signed-in user's, and the store
        is asked at each new sign-in, so a revocation holds at once."""
        max_age = self.settings.remember_days * 86400 if self.settings.remember_days else 0
        if not max_age:
            return []
        out: list[tuple[int, str]] = []
        for value in read_cookies(environ, self.trusted_name)[:2]:
            try:
                browser_id, secret = self._trusted.loads(value, max_age=max_age)
            except (BadSignature, TypeError, ValueError):
                continue
            if (
                isinstance(browser_id, int) and not isinstance(browser_id, bool) and 0 < browser_id < 2**63
                and isinstance(secret, str) and secret.isascii() and 0 < len(secret) <= 64
            ):
                out.append((browser_id, secret))
        return out

    def trusted_header(self, value: str, *, secure: bool) -> tuple[str, str]:
        days = self.settings.remember_days or 0
        return self.header(self.trusted_name, value, secure=secure, max_age=days * 86400)

    # -- CSRF: a synchroniser token derived from the sign-in ----------------

    def csrf_token(self, identity: Identity) -> str:
        return self.keyring.mac("twofa.csrf", f"{identity.user_id}\0{identity.session_key}")

    def csrf_valid(self, token: object, identity: Identity) -> bool:
        # compare_digest raises TypeError on non-ASCII str: refuse those up front.
        if not isinstance(token, str) or not token or not token.isascii():
            return False
        message = f"{identity.user_id}\0{identity.session_key}"
        # Check against every key so a rotation does not break open forms.
        results = [hmac.compare_digest(token, mac) for mac in self.keyring.macs("twofa.csrf", message)]
        return any(results)

    # -- Set-Cookie headers --------------------------------------------------

    def header(
        self, name: str, value: str, *, secure: bool, max_age: int | None, path: str = "/"
    ) -> tuple[str, str]:
        return (
            "Set-Cookie",
            dump_cookie(
                name,
                value,
                max_age=max_age,
                path=path,
                secure=secure or bool(self.settings.cookie_secure),
                httponly=True,
                samesite="Lax",
            ),
        )

    def clear(self, name: str, *, secure: bool, path: str = "/") -> tuple[str, str]:
        return self.header(name, "", secure=secure, max_age=0, path=path)


def is_https(environ: dict[str, Any]) -> bool:
    return environ.get("wsgi.url_scheme") == "https"


def parse_cookie_header(header: str) -> MultiDict[str, str]:
    """Every cookie of a WSGI ``Cookie`` header, parsed exactly as werkzeug's
    ``Request.cookies`` (so Flask) parses it: never raises, whatever the bytes.

    A parser of our own would read a crafted header (duplicate names, quotes,
    spaces before ``=``) differently from the app, and the middleware would then
    check one session while the app serves another.
    """
    return _parse_cookie(cookie=header)


def read_cookie(environ: dict[str, Any], name: str) -> str | None:
    """One cookie's value (the first of its name), as the app reads it."""
    header = environ.get("HTTP_COOKIE")
    if not header or name not in header:
        return None
    return parse_cookie_header(header).get(name) or None


def read_cookies(environ: dict[str, Any], name: str) -> list[str]:
    """Every non-empty value of one cookie name, in order, parsed as :func:`read_cookie` does."""
    header = environ.get("HTTP_COOKIE")
    if not header or name not in header:
        return []
    return [value for value in parse_cookie_header(header).getlist(name) if value]

"""All settings in one frozen dataclass, validated once at construction."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ALGORITHMS = ("SHA1", "SHA256", "SHA512")
_MOUNT = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")


@dataclass(frozen=True)
class Settings:
    """Security defaults are the strict ones; every field may be tightened.

    :param issuer: the name authenticator apps show beside the account.
    :param mount: the path prefix of the middleware's pages and API.
    :param totp_digits: code length (6 or 8).
    :param totp_period: seconds per code.
    :param totp_algorithm: ``SHA1`` (what Google Authenticator supports), ``SHA256`` or ``SHA512``.
    :param totp_window: time steps accepted either side of now.
    :param drift_steps: how far outside the window a code is still recognised,
        only to tell the user that the device's clock is off (never accepted).
    :param lockout_threshold: wrong codes in a row before the 2FA step locks.
    :param lockout_base_seconds: first lock; doubles per further failure.
    :param lockout_max_seconds: the longest lock.
    :param recovery_code_count: codes per set.
    :param recovery_codes_warn_below: warn when fewer codes than this are left.
    :param sudo_seconds: how long a password re-confirmation lasts.
    :param verified_max_age: lifetime of the verified cookie, in seconds.
    :param cache_seconds: how long this process trusts cached user and token state;
        the time another instance's change may take to be seen here.
    :param cookie_secure: ``None`` marks cookies Secure on HTTPS requests only;
        ``True`` always.
    :param exempt_paths: path prefixes of the app that never need the second
        factor (its logout, static files, health checks).
    :param home_url: where to go after the 2FA pages when no ``next`` is given.
    :param login_url: the app's sign-in page, where the 2FA pages send signed-out
        visitors (with ``next``); without it they get a 401 page.
    :param logout_url: the app's sign-out endpoint (POST); the verify page offers
        it, so someone without their phone is never stuck there.
    :param sign_out: ``sign_out(environ) -> [(header, value), ...]``, set by the
        framework integrations: ends the app's sign-in of this request and returns
        the headers (``Set-Cookie``) that do so. When set, the verify page's
        "Sign out" posts to the middleware's own ``{mount}/sign-out`` with the
        middleware's CSRF token, so it works under the app's CSRF protection
        (Django, Flask-WTF, Pyramid); else it posts to ``logout_url``.
    :param max_token_days: longest allowed personal access token lifetime.
    """

    issuer: str = "twofa-middleware"
    mount: str = "/_2fa"
    totp_digits: int = 6
    totp_period: int = 30
    totp_algorithm: str = "SHA1"
    totp_window: int = 1
    drift_steps: int = 20
    lockout_threshold: int = 5
    lockout_base_seconds: int = 30
    lockout_max_seconds: int = 900
    recovery_code_count: int = 10
    recovery_codes_warn_below: int = 3
    sudo_seconds: int = 300
    verified_max_age: int = 12 * 3600
    cache_seconds: float = 5.0
    cookie_secure: bool | None = None
    cookie_prefix: str = "twofa"
    exempt_paths: tuple[str, ...] = ()
    home_url: str = "/"
    login_url: str | None = None
    logout_url: str | None = None
    max_token_days: int = 366
    enrollment_seconds: int = 900
    require_enrollment: Callable[[str], bool] | None = field(default=None, compare=False)
    sign_out: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.issuer or ":" in self.issuer:
            raise ValueError("issuer must be a non-empty name without ':'")
        if not _MOUNT.match(self.mount):
            raise ValueError("mount must look like '/_2fa': a path with no trailing slash")
        if self.totp_digits not in (6, 8):
            raise ValueError("totp_digits must be 6 or 8")
        if self.totp_algorithm not in _ALGORITHMS:
            raise ValueError(f"totp_algorithm must be one of {_ALGORITHMS}")
        if not 15 <= self.totp_period <= 120:
            raise ValueError("totp_period must be between 15 and 120 seconds")
        if not 0 <= self.totp_window <= 2:
            raise ValueError("totp_window must be 0, 1 or 2")
        if self.lockout_threshold < 1 or self.lockout_base_seconds < 1:
            raise ValueError("lockout_threshold and lockout_base_seconds must be positive")
        if self.lockout_max_seconds < self.lockout_base_seconds:
            raise ValueError("lockout_max_seconds must not be below lockout_base_seconds")
        if not 4 <= self.recovery_code_count <= 32:
            raise ValueError("recovery_code_count must be between 4 and 32")
        if not 30 <= self.sudo_seconds <= 3600:
            raise ValueError("sudo_seconds must be between 30 and 3600")
        if self.verified_max_age < 60:
            raise ValueError("verified_max_age must be at least 60 seconds")
        if not 0 <= self.cache_seconds <= 60:
            raise ValueError("cache_seconds must be between 0 and 60")
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.cookie_prefix):
            raise ValueError("cookie_prefix must be letters, digits and '_'")
        for path in self.exempt_paths:
            if not path.startswith("/"):
                raise ValueError(f"exempt path {path!r} must start with '/'")
        for name in ("home_url", "login_url", "logout_url"):
            url = getattr(self, name)
            if url is not None and (not url.startswith("/") or url.startswith("//")):
                raise ValueError(f"{name} must be a local path")

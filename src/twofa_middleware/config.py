"""All settings in one frozen dataclass, validated once at construction."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import security_keys

_ALGORITHMS = ("SHA1", "SHA256", "SHA512")
_MOUNT = re.compile(r"^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$")
_DAY = 86400
_TEMPLATE_NAME = re.compile(r"(?!\.)(?!.*/\.)[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")  # no part starts with "."


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
        the time another instance's change may take to be seen here when it is
        not announced (SQLite, a lost notification).
    :param instant_invalidation: with PostgreSQL, announce every change to cached
        state (LISTEN/NOTIFY) so other instances drop their copy at once; each
        process then keeps one extra connection open to listen.
    :param cookie_secure: ``None`` (or ``False``) marks cookies Secure on HTTPS
        requests only; ``True`` always (behind a TLS-terminating proxy).
    :param cookie_prefix: the start of the middleware's cookie names
        (``{cookie_prefix}_verified``...): letters, digits and ``_``.
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
    :param max_authenticators: the most authenticators (apps and security keys) one
        user may have; one more is refused (``too_many_authenticators``), so the
        list, and what each sign-in checks, stays small.
    :param enrollment_seconds: how long a started setup (its QR code and key)
        stays valid before it must be started again.
    :param account_label: ``account_label(user_id) -> str``: the name shown for a
        user in authenticator apps and on the 2FA pages, when ``user_id`` is an
        opaque key (a database id, which never changes and is never reused);
        default: ``user_id`` itself.
    :param remember_days: offer "Remember this browser for N days" on the verify
        page: a remembered browser skips the code at later sign-ins of the same
        user for that many days (a record the user can see and revoke on the
        account page). ``None`` or ``0``: off, never offered.
    :param require_enrollment: ``require_enrollment(user_id) -> bool``: users for
        whom it is true must set up 2FA before reaching the app (beyond
        ``exempt_paths``); without it, 2FA is each user's choice. For everyone:
        ``require_enrollment=lambda user_id: True``.
    :param enroll_by: ``enroll_by(user_id) -> datetime | None``: a grace period,
        as the aware (UTC) deadline by which the user must set up 2FA. A user for
        whom it returns a date is required to enroll (whatever
        ``require_enrollment`` says) and reaches the app until then, with the days
        left in ``environ["twofa"]``; from the deadline on, as with
        ``require_enrollment``. A user ``require_enrollment`` requires and for whom
        it returns None has no grace period. Called for users without 2FA when a
        decision is not cached: keep it cheap (no database round trip if you can).
    :param webauthn_rp_id: the security keys' RP ID (a domain name; ``example.com``
        lets keys work on every subdomain); default: the request's host name.
        Changing it later orphans every registered key.
    :param webauthn_origins: the public origins (``("https://app.example.com",)``)
        for an app behind a proxy that ends TLS or rewrites Host; default: the
        request's scheme and Host (``http://localhost:PORT`` works for development).
    :param webauthn_challenge_seconds: how long a security-key ceremony's challenge
        (begin to finish) stays valid; single use either way.
    :param template_folder: a directory of the app's templates, searched before the
        built-in ones: a template of the same name (``verify.html``) replaces that one.
    :param base_template: the name of the app's layout template (in
        ``template_folder``) that the pages render inside, instead of the built-in
        frame; it defines the blocks ``title`` and ``content`` and includes
        ``twofa_head.html`` in its ``<head>``. Checked at start-up.
    :param locale: ``locale(environ) -> str | None``: the language the app has
        chosen for this request's user (``"de"``, ``"pt-BR"``, ``"zh_Hans"``); a
        language the middleware does not ship, or None, falls back to the
        ``Accept-Language`` header, then English. Called for each 2FA page and
        refusal (not for requests that pass): keep it cheap.

    Every field is checked at construction: a value out of its range raises
    ``ValueError`` naming the field and the range.
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
    instant_invalidation: bool = True
    cookie_secure: bool | None = None
    cookie_prefix: str = "twofa"
    exempt_paths: tuple[str, ...] = ()
    home_url: str = "/"
    login_url: str | None = None
    logout_url: str | None = None
    max_token_days: int = 366
    max_authenticators: int = 20
    enrollment_seconds: int = 900
    remember_days: int | None = None
    require_enrollment: Callable[[str], bool] | None = field(default=None, compare=False)
    enroll_by: Callable[[str], datetime | None] | None = field(default=None, compare=False)
    sign_out: Callable[[dict[str, Any]], list[tuple[str, str]]] | None = field(default=None, compare=False)
    account_label: Callable[[str], str] | None = field(default=None, compare=False)
    webauthn_rp_id: str | None = None
    webauthn_origins: tuple[str, ...] = ()
    webauthn_challenge_seconds: int = 300
    template_folder: str | os.PathLike[str] | None = None
    base_template: str | None = None
    locale: Callable[[dict[str, Any]], str | None] | None = field(default=None, compare=False)

    def label(self, user_id: str) -> str:
        """What people see for ``user_id``: :attr:`account_label`'s answer, else the id itself."""
        return user_id if self.account_label is None else self.account_label(user_id)

    def enrollment_deadline(self, user_id: str) -> float | None:
        """When ``user_id`` must have 2FA by (seconds since the epoch); ``-inf``: already;
        None: never (2FA is the user's choice). The one place the two hooks combine."""
        deadline = None if self.enroll_by is None else _untyped(self.enroll_by(user_id))
        if deadline is not None:
            if not isinstance(deadline, datetime) or deadline.utcoffset() is None:
                # A naive datetime is a local time of some machine: refuse it, loudly.
                raise ValueError(f"enroll_by must return an aware datetime or None, not {deadline!r}")
            return deadline.timestamp()
        if self.require_enrollment is not None and self.require_enrollment(user_id):
            return float("-inf")
        return None

    def __post_init__(self) -> None:
        _check_names(self)
        _check_totp(self)
        _check_throttling(self)
        _check_lifetimes(self)
        _check_cookies(self)
        _check_paths(self)
        _check_hooks(self)
        _check_webauthn(self)
        _check_templates(self)


def _untyped(value: object) -> object:
    """The value as given: the annotations say what it should be, not what a caller passed."""
    return value


def _number(name: str, value: object, low: float, high: float | None, unit: str, *, whole: bool = True) -> None:
    """``value`` is a number (an int when ``whole``; never a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        raise ValueError(f"{name} must be {kind} of{unit}, not {value!r}")
    if high is None:
        if not value >= low:
            raise ValueError(f"{name} must be at least {low}{unit}")
    elif not low <= value <= high:  # `not`, so NaN is refused too
        raise ValueError(f"{name} must be between {low} and {high}{unit}")


def _local_path(name: str, url: object, *, optional: bool) -> None:
    if url is None and optional:
        return
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//"):
        raise ValueError(f"{name} must be a local path such as '/account'")


def _check_names(s: Settings) -> None:
    issuer, mount = _untyped(s.issuer), _untyped(s.mount)
    if not isinstance(issuer, str) or not issuer or ":" in issuer or len(issuer) > 100:
        raise ValueError("issuer must be a non-empty name of at most 100 characters without ':'")
    if not isinstance(mount, str) or not _MOUNT.match(mount):
        raise ValueError("mount must look like '/_2fa': a path with no trailing slash")


def _check_totp(s: Settings) -> None:
    digits = _untyped(s.totp_digits)
    if isinstance(digits, bool) or not isinstance(digits, int) or digits not in (6, 8):
        raise ValueError("totp_digits must be 6 or 8")
    if s.totp_algorithm not in _ALGORITHMS:
        raise ValueError(f"totp_algorithm must be one of {_ALGORITHMS}")
    _number("totp_period", s.totp_period, 15, 120, " seconds")
    _number("totp_window", s.totp_window, 0, 2, " time steps")
    # Each wrong code costs 2 x drift_steps HMACs to find the hint: keep it bounded.
    _number("drift_steps", s.drift_steps, s.totp_window, 120, " time steps (totp_window: no clock hints)")


def _check_throttling(s: Settings) -> None:
    # No upper bound on the threshold: tests of races turn lockout off with a large one.
    _number("lockout_threshold", s.lockout_threshold, 1, None, " wrong codes")
    _number("lockout_base_seconds", s.lockout_base_seconds, 1, _DAY, " seconds")
    _number("lockout_max_seconds", s.lockout_max_seconds, s.lockout_base_seconds, _DAY,
            " seconds (not below lockout_base_seconds)")
    _number("recovery_code_count", s.recovery_code_count, 4, 32, " codes")
    _number("recovery_codes_warn_below", s.recovery_codes_warn_below, 0, s.recovery_code_count,
            " codes (up to recovery_code_count)")


def _check_lifetimes(s: Settings) -> None:
    _number("sudo_seconds", s.sudo_seconds, 30, 3600, " seconds")
    _number("verified_max_age", s.verified_max_age, 60, 31 * _DAY, " seconds")
    _number("cache_seconds", s.cache_seconds, 0, 60, " seconds", whole=False)
    if not isinstance(_untyped(s.instant_invalidation), bool):
        raise ValueError("instant_invalidation must be True or False")
    _number("enrollment_seconds", s.enrollment_seconds, 60, _DAY, " seconds")
    _number("max_token_days", s.max_token_days, 1, 3660, " days")
    _number("max_authenticators", s.max_authenticators, 1, 100, " authenticators")
    if s.remember_days is not None:
        _number("remember_days", s.remember_days, 0, 365, " days (None or 0: off)")


def _check_cookies(s: Settings) -> None:
    secure, prefix = _untyped(s.cookie_secure), _untyped(s.cookie_prefix)
    if secure is not None and not isinstance(secure, bool):
        raise ValueError("cookie_secure must be None (Secure on HTTPS requests), True or False")
    if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,32}", prefix):
        raise ValueError("cookie_prefix must be 1 to 32 letters, digits and '_'")


def _check_paths(s: Settings) -> None:
    paths = _untyped(s.exempt_paths)
    if not isinstance(paths, tuple | list):  # a str would be taken one letter at a time
        raise ValueError("exempt_paths must be a tuple of paths such as ('/logout',), not one string")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"exempt path {path!r} must start with '/'")
    _local_path("home_url", s.home_url, optional=False)
    _local_path("login_url", s.login_url, optional=True)
    _local_path("logout_url", s.logout_url, optional=True)


def _check_hooks(s: Settings) -> None:
    for name in ("require_enrollment", "enroll_by", "sign_out", "account_label", "locale"):
        hook = getattr(s, name)
        if hook is not None and not callable(hook):
            raise ValueError(f"{name} must be a function or None")


def _check_webauthn(s: Settings) -> None:
    rp_id, origins = _untyped(s.webauthn_rp_id), _untyped(s.webauthn_origins)
    if rp_id is not None and not isinstance(rp_id, str):
        raise ValueError("webauthn_rp_id must be a domain name or None")
    if not isinstance(origins, tuple | list) or not all(isinstance(o, str) for o in origins):
        raise ValueError("webauthn_origins must be a tuple of origins such as ('https://app.example.com',)")
    security_keys.check_config(s.webauthn_rp_id, tuple(s.webauthn_origins))
    _number("webauthn_challenge_seconds", s.webauthn_challenge_seconds, 30, 600, " seconds")


def _check_templates(s: Settings) -> None:
    folder, base = _untyped(s.template_folder), _untyped(s.base_template)
    if folder is not None and (not isinstance(folder, str | os.PathLike) or not os.path.isdir(folder)):
        raise ValueError(f"template_folder must be an existing directory, not {folder!r}")
    if base is not None and (not isinstance(base, str) or not _TEMPLATE_NAME.fullmatch(base)):
        raise ValueError(f"base_template must be a template name such as 'layout.html', not {base!r}")

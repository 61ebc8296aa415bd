"""TOTP (RFC 6238) on top of pyotp, plus what pyotp leaves to us: replay
protection and telling the user that their device's clock is off.

Pure functions: the time is always passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import pyotp

from .config import Settings
from .errors import CodeReused, InvalidCode, InvalidRequest
from .i18n import N_

_DIGESTS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}
_SPACES = re.compile(r"[\s-]+")
_MAX_INPUT = 64


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (32 characters)."""
    return pyotp.random_base32(32)


class _TOTP(pyotp.TOTP):
    """pyotp's TOTP with the secret decoded (and its length checked) once, not again for
    every code computed: a verification computes one per step of its window."""

    _key: bytes | None = None

    def byte_secret(self) -> bytes:
        if self._key is None:
            self._key = super().byte_secret()
        return self._key


def _totp(secret: str, settings: Settings) -> pyotp.TOTP:
    return _TOTP(
        secret,
        digits=settings.totp_digits,
        digest=_DIGESTS[settings.totp_algorithm],
        interval=settings.totp_period,
    )


def provisioning_uri(secret: str, account: str, settings: Settings) -> str:
    """The ``otpauth://`` URI that authenticator apps read from the QR code."""
    return _totp(secret, settings).provisioning_uri(name=account, issuer_name=settings.issuer)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def parse_code(raw: object, settings: Settings) -> str:
    """The code as ASCII digits, or InvalidRequest for anything else.

    Spaces and dashes are ignored; full-width or other non-ASCII digits are refused
    rather than folded, so what is checked is exactly what was typed.
    """
    if not isinstance(raw, str) or len(raw) > _MAX_INPUT:
        raise InvalidRequest(N_("Enter the code from your authenticator app."))
    code = _SPACES.sub("", raw)
    if not (code.isascii() and code.isdigit() and len(code) == settings.totp_digits):
        raise InvalidRequest(
            N_("The code is %(digits)s digits from your authenticator app."), digits=settings.totp_digits
        )
    return code


def looks_like_totp(raw: str, settings: Settings) -> bool:
    code = _SPACES.sub("", raw)
    return code.isascii() and code.isdigit() and len(code) == settings.totp_digits


def code_at(secret: str, step: int, settings: Settings) -> str:
    return _totp(secret, settings).generate_otp(step)


def verify(secret: str, code: str, now: float, last_step: int, settings: Settings) -> int:
    """The time step the code belongs to, if it is accepted.

    Accepted means: it matches a step within ``totp_window`` of now, and that step
    is later than ``last_step``, the last one this user used (so each code works
    once, and never an older one after a newer).

    :raises CodeReused: the code is right but its step was already used.
    :raises InvalidCode: otherwise; ``drift_seconds`` is set when the code matches
        an earlier step further off, which means the device's clock is slow.
    """
    current = int(now) // settings.totp_period
    totp = _totp(secret, settings)
    matched: int | None = None
    # Check every step of the window, without stopping at the first match,
    # so the time taken does not depend on which step matched.
    for offset in range(-settings.totp_window, settings.totp_window + 1):
        step = current + offset
        if hmac.compare_digest(totp.generate_otp(step), code) and matched is None:
            matched = step
    if matched is not None:
        if matched <= last_step:
            raise CodeReused()
        return matched
    # Only past steps: naming a future step that matches would tell a guesser
    # a code that becomes valid later. A fast clock gets the plain answer.
    for distance in range(settings.totp_window + 1, settings.drift_steps + 1):
        if hmac.compare_digest(totp.generate_otp(current - distance), code):
            raise InvalidCode(drift_seconds=-distance * settings.totp_period)
    raise InvalidCode()

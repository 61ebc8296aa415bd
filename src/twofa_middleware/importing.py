"""Moving in from another system: TOTP secrets read from a CSV of ``otpauth://`` URIs
or from django-otp's ``otp_totp_totpdevice`` rows, checked before anything is written.

Pure: no database, no clock. Each input row becomes an :class:`Accepted` record
or a :class:`Refusal` naming the row and the reason. A secret is never part of
a reason or a repr, so a refusal can be printed or logged as it is.
"""

from __future__ import annotations

import base64
import binascii
import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs, unquote, urlsplit

from .config import Settings
from .errors import InvalidRequest
from .inputs import text

MIN_SECRET_BYTES = 10  # 80 bits, RFC 4226's floor for a shared secret
MAX_NAME = 100
_KNOWN_ALGORITHMS = ("SHA1", "SHA256", "SHA512")
_SECRET_MARKS = ("otpauth:", "secret=")


class Refused(ValueError):
    """Why one row cannot be imported; the message never contains the secret."""


@dataclass(frozen=True)
class Accepted:
    """A row ready to import: ``secret`` is base32, upper case, without padding."""

    where: str
    user_id: str
    name: str
    secret: str = field(repr=False)
    last_step: int = 0


@dataclass(frozen=True)
class Refusal:
    where: str
    user: str  # as given when it was clean text, else ""
    reason: str


Outcome = Accepted | Refusal


def base32_secret(value: str) -> str:
    """``value`` as canonical base32 (upper case, no spaces or padding) of at least 80 bits."""
    bare = "".join(value.split()).upper().rstrip("=")
    if not bare:
        raise Refused("no secret")
    try:
        raw = base64.b32decode(bare + "=" * (-len(bare) % 8))
    except (binascii.Error, ValueError):
        raise Refused("secret is not valid base32") from None
    if len(raw) < MIN_SECRET_BYTES:
        raise Refused(f"secret has {len(raw) * 8} bits, at least {MIN_SECRET_BYTES * 8} needed")
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def user_id_of(value: object) -> str:
    """A user id as the CLI's ``USER`` parameter takes it (:mod:`twofa_middleware.cli_params`)."""
    try:
        user = text(value, "bad user id", max_length=255, normalise=False)
    except InvalidRequest:
        raise Refused("bad user id") from None
    if not user:
        raise Refused("bad user id")
    if user != user.strip():
        raise Refused("bad user id (spaces around it)")
    if any(mark in user.lower() for mark in _SECRET_MARKS):
        # Columns swapped: the "user id" is the URI, and printing it would print the secret.
        raise Refused("bad user id (it looks like an otpauth URI: user id comes first)")
    return user


def _name_of(value: str) -> str:
    try:
        name = text(value, "bad name").strip()
    except InvalidRequest:
        return "imported"
    return name[:MAX_NAME] or "imported"


def _single(params: dict[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    if values is None:
        return None
    if len(values) != 1:
        raise Refused(f"parameter {key} given more than once")  # two secrets: which one?
    return values[0]


def _check_number(found: str | None, configured: int, what: str) -> None:
    if found is None:
        value = 6 if what == "digits" else 30  # the Key Uri Format's defaults
    elif found.isascii() and found.isdigit():
        value = int(found)
    else:
        raise Refused(f"{what} is not a number")
    if value != configured:
        unit = "digits" if what == "digits" else "second period"
        raise Refused(f"{value} {unit}, configured {configured}")


def _check_algorithm(found: str, settings: Settings) -> None:
    algorithm = found.upper().replace("-", "")
    if algorithm not in _KNOWN_ALGORITHMS:
        shown = algorithm if algorithm.isascii() and algorithm.isalnum() and len(algorithm) <= 16 else "?"
        raise Refused(f"unknown algorithm {shown}")
    if algorithm != settings.totp_algorithm:
        raise Refused(f"algorithm {algorithm}, configured {settings.totp_algorithm}")


def parse_otpauth(uri: str, settings: Settings) -> tuple[str, str]:
    """``(secret, name)`` from an ``otpauth://totp/...`` URI (Google's Key Uri Format),
    or :class:`Refused` when it is not one this configuration verifies."""
    parts = urlsplit(uri.strip())
    if parts.scheme.lower() != "otpauth":
        raise Refused("not an otpauth:// URI")
    kind = parts.netloc.lower()
    if kind != "totp":
        shown = kind if kind.isascii() and kind.isalnum() and len(kind) <= 16 else "?"
        raise Refused(f"wrong type {shown or '(none)'}, only totp")
    try:
        params = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise Refused("malformed query") from None
    params = {k.lower(): v for k, v in params.items()}
    secret = _single(params, "secret")
    if secret is None:
        raise Refused("no secret")
    secret = base32_secret(secret)
    _check_algorithm(_single(params, "algorithm") or "SHA1", settings)
    _check_number(_single(params, "digits"), settings.totp_digits, "digits")
    _check_number(_single(params, "period"), settings.totp_period, "period")
    label = unquote(parts.path.lstrip("/"))
    issuer = _single(params, "issuer")
    if not issuer and ":" in label:
        issuer = label.partition(":")[0]
    return secret, _name_of(issuer or "imported")


def _unique(outcomes: list[Outcome]) -> list[Outcome]:
    """A secret given twice for one user is imported once: the later places are refused,
    and the one imported keeps the latest of their last steps (a code spent on any of
    them is spent). Several secrets for one user are several authenticators, all imported."""
    first: dict[tuple[str, str], int] = {}
    result: list[Outcome] = []
    for o in outcomes:
        if isinstance(o, Accepted):
            at = first.setdefault((o.user_id, o.secret), len(result))
            kept = result[at] if at < len(result) else o
            if kept is not o and isinstance(kept, Accepted):
                result[at] = replace(kept, last_step=max(kept.last_step, o.last_step))
                result.append(Refusal(o.where, o.user_id, f"duplicate of {kept.where}"))
                continue
        result.append(o)
    return result


def _refusal(where: str, raw_user: object, reason: str) -> Refusal:
    try:
        user = user_id_of(raw_user)
    except Refused:
        user = ""
    return Refusal(where, user, reason)


def _csv_row(where: str, line_num: int, row: list[str], settings: Settings) -> Outcome | None:
    if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
        return None
    if line_num == 1 and row[0].strip().lower() in ("user_id", "user"):
        return None
    if len(row) != 2:
        return _refusal(where, row[0], f"{len(row)} columns, expected 2 (user_id,otpauth URI)")
    try:
        user = user_id_of(row[0])
        secret, name = parse_otpauth(row[1], settings)
    except Refused as exc:
        return _refusal(where, row[0], str(exc))
    return Accepted(where, user, name, secret)


def read_csv(lines: Iterable[str], settings: Settings) -> list[Outcome]:
    """Rows of ``user_id,otpauth URI``; a first row ``user_id,...`` is a header; blank lines
    and lines starting with ``#`` are skipped. A file that is not CSV at all (a NUL byte, a
    field over the csv module's limit) is :class:`Refused` as a whole."""
    outcomes: list[Outcome] = []
    reader = csv.reader(lines)
    try:
        for row in reader:
            outcome = _csv_row(f"line {reader.line_num}", reader.line_num, row, settings)
            if outcome is not None:
                outcomes.append(outcome)
    except csv.Error as exc:
        raise Refused(f"line {reader.line_num}: {exc}") from None
    return _unique(outcomes)


def _django_device(row: Mapping[str, object], settings: Settings) -> tuple[str, str, int]:
    """``(secret, name, last_step)`` of one confirmed django-otp TOTP device."""
    key = row["key"]
    try:
        raw = bytes.fromhex(key) if isinstance(key, str) else b""
    except ValueError:
        raw = b""
    if not raw:
        raise Refused("key is not hex-encoded")
    if len(raw) < MIN_SECRET_BYTES:
        raise Refused(f"secret has {len(raw) * 8} bits, at least {MIN_SECRET_BYTES * 8} needed")
    if settings.totp_algorithm != "SHA1":  # django-otp's TOTPDevice always uses SHA-1
        raise Refused(f"algorithm SHA1, configured {settings.totp_algorithm}")
    _check_number(str(row["digits"]), settings.totp_digits, "digits")
    _check_number(str(row["step"]), settings.totp_period, "period")
    if row["t0"] != 0:
        raise Refused("t0 is not 0 (time steps would not line up)")
    last_t = row["last_t"]
    if not isinstance(last_t, int):
        raise Refused("last_t is not a number")
    name = row["name"] if isinstance(row["name"], str) else ""
    return base64.b32encode(raw).decode("ascii").rstrip("="), _name_of(name or "django-otp"), max(last_t, 0)


def read_django_otp(rows: Iterable[Mapping[str, object]], settings: Settings) -> list[Outcome]:
    """Confirmed rows of ``otp_totp_totpdevice``. ``user_id`` there is the Django user's
    primary key, which is how this project's Django integration names users too."""
    outcomes: list[Outcome] = []
    for row in rows:
        where = f"device {row['id']}"
        raw_user = str(row["user_id"]) if row["user_id"] is not None else None
        try:
            user = user_id_of(raw_user)
            secret, name, last_step = _django_device(row, settings)
        except Refused as exc:
            outcomes.append(_refusal(where, raw_user, str(exc)))
            continue
        outcomes.append(Accepted(where, user, name, secret, last_step))
    return _unique(outcomes)

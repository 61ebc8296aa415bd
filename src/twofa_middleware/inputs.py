"""Input hygiene in one place: every string the middleware takes, from a form, JSON or the CLI.

A string that is not valid Unicode text (a lone surrogate from a JSON ``"\\ud800"``
escape or a mis-decoded command line), that carries control characters, or that
is too long once normalised, is refused with :class:`InvalidRequest` (a 400 with
a stable ``error`` code) before anything is checked, stored or logged. Without
this, such a value fails deep down (an app's password hash, a database driver,
a page template) as a 5xx, or is stored and breaks a page for good.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import InvalidRequest
from .i18n import N_, Text

MAX_TEXT = 1024


def is_text(value: str) -> bool:
    """Valid Unicode (encodable as UTF-8: no lone surrogates) with no control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(unicodedata.category(c) == "Cc" for c in value)


def text(value: object, message: str | Text, *, max_length: int = MAX_TEXT, normalise: bool = True) -> str:
    """``value`` as clean text: NFC-normalised when ``normalise`` (never a password:
    the app compares what was typed), then at most ``max_length`` characters;
    else :class:`InvalidRequest` with ``message``."""
    if not isinstance(value, str) or not is_text(value):
        raise InvalidRequest(message)
    if normalise:
        value = unicodedata.normalize("NFC", value)
    if len(value) > max_length:
        raise InvalidRequest(message)
    return value


def name(value: object, message: str | Text, *, max_length: int = 100) -> str:
    """A name a user gives a thing (a token, an authenticator): clean, printable,
    not blank, at most ``max_length`` characters once normalised (NFC can make a
    name longer: U+FB2C is three)."""
    cleaned = text(value, message, max_length=max_length).strip()
    if not cleaned or not cleaned.isprintable():
        raise InvalidRequest(message)
    return cleaned


def check_json(value: Any) -> None:
    """:class:`InvalidRequest` when any string in a parsed JSON document, key or value,
    is not valid Unicode (JSON can spell a lone surrogate; UTF-8 cannot)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(N_("The body has text that is not valid Unicode.")) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key)
            check_json(item)
    elif isinstance(value, list):
        for item in value:
            check_json(item)

"""Which language a request is answered in: the app's ``locale(environ)``, else ``Accept-Language``, else English.

The shipped languages are the folders of ``locale/`` that hold a catalog; the
answer is always one of them (or English), never a name taken from the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale, UnknownLocaleError
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from .i18n import DOMAIN, ENGLISH, SOURCE, Language

log = logging.getLogger("twofa_middleware")

_MAX_HEADER = 1000  # a real Accept-Language is a few dozen characters
_MAX_TAGS = 20


@cache
def shipped() -> tuple[str, ...]:
    """English and every language with a catalog in ``locale/<name>/LC_MESSAGES/twofa.po``."""
    folder = resources.files("twofa_middleware").joinpath("locale")
    names = [
        entry.name for entry in folder.iterdir()
        if entry.is_dir() and entry.joinpath("LC_MESSAGES", f"{DOMAIN}.po").is_file()
    ]
    return (SOURCE, *sorted(n for n in names if n != SOURCE))


@cache
def _shipped_locales() -> tuple[tuple[str, Locale], ...]:
    return tuple((name, Locale.parse(name)) for name in shipped())


def match(tag: object) -> str | None:
    """The shipped language for one language tag (``de-CH`` -> ``de``, ``pt-BR`` -> ``pt_BR``,
    ``zh-CN`` or ``zh-Hans`` -> ``zh_Hans``), or None.

    Language and script must agree (the script from the tag, else the likely one for
    its region: ``zh-TW`` is Traditional, so it never gets ``zh_Hans``); an exact
    region wins over another region's catalog."""
    if not isinstance(tag, str) or not 0 < len(tag) <= 35 or not tag.replace("-", "").replace("_", "").isalnum():
        return None
    try:
        wanted = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    best: tuple[int, str] | None = None
    for name, offered in _shipped_locales():
        if offered.language != wanted.language:
            continue
        if offered.script and wanted.script and offered.script != wanted.script:
            continue
        if offered.territory and wanted.territory and offered.territory != wanted.territory:
            score = 1  # pt-PT asked, pt_BR offered: the same language still reads better than English
        else:
            score = 3 if offered.territory == wanted.territory else 2
        if best is None or score > best[0]:
            best = (score, name)
    return None if best is None else best[1]


def from_header(header: str | None) -> str | None:
    """The best shipped language ``Accept-Language`` asks for, by q-value; None if none."""
    if not header or len(header) > _MAX_HEADER:
        return None
    accepted = parse_accept_header(header, LanguageAccept)
    for tag, quality in list(accepted)[:_MAX_TAGS]:  # already sorted by q, best first
        if quality <= 0 or tag == "*":
            continue
        found = match(tag)
        if found is not None:
            return found
    return None


def for_request(environ: dict[str, Any], locale: Callable[[dict[str, Any]], object] | None = None) -> Language:
    """The language to answer this request in; ``locale``: the app's hook (``Settings.locale``)."""
    if locale is not None:
        try:
            chosen = match(locale(environ))
        except Exception:  # the language only changes words: a failing hook must not fail the page
            log.exception("twofa locale(environ) hook failed; using Accept-Language")
            chosen = None
        if chosen is not None:
            return Language(chosen)
    chosen = from_header(environ.get("HTTP_ACCEPT_LANGUAGE"))
    return ENGLISH if chosen is None else Language(chosen)

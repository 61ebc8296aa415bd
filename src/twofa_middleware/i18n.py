"""Translations: the catalogs, the texts that wait for a language, and the template callables.

Texts are written in English in the source and marked: ``N_("...")`` (and
``Nn_(singular, plural)``) only mark a text for extraction where it is defined,
say an error's message; it is translated when a response is made, in the
language of that request (:class:`Language`). Catalogs are the committed ``.po``
files under ``locale/``, compiled in memory the first time a language is used.
"""

from __future__ import annotations

import gettext as _gettext
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from io import BytesIO
from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

DOMAIN = "twofa"
SOURCE = "en"  # the language the texts are written in: it needs no catalog


def N_(message: str) -> str:  # noqa: N802 - the name gettext tools know
    """Marks ``message`` for the catalog; it is translated later, when a response is made."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802
    """Marks a text with a plural for the catalog (see :class:`Text`)."""
    return singular, plural


@dataclass(frozen=True)
class Text:
    """A user-visible text not yet translated: a msgid (with its plural and count) and its values.

    ``str(text)`` is the English; :meth:`render` is the text in a language.
    """

    message: str
    params: Mapping[str, object] = field(default_factory=dict)
    plural: str | None = None
    count: int = 1

    def render(self, translations: _gettext.NullTranslations, number: Callable[[int], str] = str) -> str:
        """The text in the language of ``translations``; ``number`` writes the count and whole-number values."""
        if self.plural is None:
            translated = translations.gettext(self.message)
        else:
            translated = translations.ngettext(self.message, self.plural, self.count)
        if not self.params and self.plural is None:
            return translated
        values = {k: _number(v, number) for k, v in self.params.items()}
        return translated % {"num": number(self.count), **values}

    def __str__(self) -> str:
        return self.render(_gettext.NullTranslations())


def _number(value: object, number: Callable[[int], str]) -> object:
    """Whole numbers in the reader's digits and separators; anything else as it is."""
    return number(value) if isinstance(value, int) and not isinstance(value, bool) else value


_lock = threading.Lock()
_catalogs: dict[str, Translations] = {}


def catalog(name: str) -> _gettext.NullTranslations:
    """The translations of shipped language ``name`` (``de``, ``pt_BR``), compiled once per process."""
    if name == SOURCE:
        return _gettext.NullTranslations()
    with _lock:
        found = _catalogs.get(name)
        if found is None:
            found = _catalogs[name] = _compile(name)
        return found


def _compile(name: str) -> Translations:
    po = resources.files("twofa_middleware").joinpath("locale", name, "LC_MESSAGES", f"{DOMAIN}.po")
    with po.open("rb") as source:
        messages = read_po(source, locale=name, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, messages, use_fuzzy=False)  # a fuzzy entry is a guess: English instead
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@dataclass(frozen=True)
class Language:
    """The language of one request's answer: its catalog, and how pages name and lay it out."""

    name: str  # a shipped catalog's folder name: ``de``, ``pt_BR``, ``zh_Hans``; ``en`` for the source

    @property
    def translations(self) -> _gettext.NullTranslations:
        return catalog(self.name)

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.name)

    @property
    def tag(self) -> str:
        """The BCP 47 tag, for ``<html lang>`` and ``Content-Language``: ``pt-BR``, ``zh-Hans``."""
        return self.name.replace("_", "-")

    @property
    def direction(self) -> str:
        """``rtl`` or ``ltr``, for ``<html dir>``."""
        return "rtl" if self.locale.text_direction == "rtl" else "ltr"

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def text(self, text: Text | str) -> str:
        """An error's message or a marked constant, in this language."""
        if isinstance(text, Text):
            return text.render(self.translations, self.number)
        return self.gettext(text)

    def datetime(self, ts: float | None) -> str | None:
        """A moment as this language writes it, or None. In UTC, the pages' one zone, and saying
        so (Babel's long format names the zone): the server does not know the reader's."""
        if ts is None:
            return None
        return str(format_datetime(datetime.fromtimestamp(ts, UTC), "long", tzinfo=UTC, locale=self.locale))

    def number(self, value: float) -> str:
        """A count as this language writes it (``1.234`` in German)."""
        return str(format_decimal(value, locale=self.locale))

    def template_values(self) -> dict[str, Any]:
        """What the templates' ``{% trans %}`` and ``_()`` call, and the page's ``lang``/``dir``.

        Passed in each render's context, never installed on the shared Environment, so two
        requests in two languages on two threads never see each other's catalog."""
        translations = self.translations
        return {
            "gettext": _template_gettext(translations.gettext, self.number),
            "ngettext": _template_ngettext(translations.ngettext, self.number),
            "lang_tag": self.tag,
            "text_dir": self.direction,
            "format_number": self.number,
            "format_time": self.datetime,
        }


ENGLISH = Language(SOURCE)


def _fill(context: Context, translated: str, variables: dict[str, Any], number: Callable[[int], str]) -> str:
    """As Jinja2's newstyle gettext does: the translation is trusted markup, the values are
    escaped into it (when autoescaping); whole numbers are written in the page's language."""
    values = {k: _number(v, number) for k, v in variables.items()}
    if context.eval_ctx.autoescape:
        return Markup(translated) % values  # noqa: S704 - a committed catalog's text, not input
    return translated % values


def _template_gettext(func: Callable[[str], str], number: Callable[[int], str]) -> Callable[..., str]:
    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        return _fill(context, func(message), variables, number)

    return gettext


def _template_ngettext(func: Callable[[str, str, int], str], number: Callable[[int], str]) -> Callable[..., str]:
    @pass_context
    def ngettext(context: Context, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        return _fill(context, func(singular, plural, num), variables, number)

    return ngettext

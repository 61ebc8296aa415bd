"""Which language a request is answered in (#16): the app's hook, Accept-Language, English."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twofa_middleware import Settings, event_label, languages
from twofa_middleware.errors import InvalidCode, Throttled
from twofa_middleware.i18n import ENGLISH, Language

SHIPPED = languages.shipped()



def test_english_is_always_shipped_and_every_name_is_a_catalog_folder() -> None:
    assert SHIPPED[0] == "en"
    assert all(name.replace("_", "").isalpha() for name in SHIPPED)


@pytest.mark.parametrize(
    "header, expected",
    [
        ("de", "de"),
        ("de-CH", "de"),  # a region falls back to its language
        ("de-de", "de"),
        ("fr-CH, de;q=0.9, en;q=0.8", "de" if "fr" not in SHIPPED else "fr"),
        ("en;q=0.5, de;q=0.9", "de"),  # by q-value, not by order
        ("de;q=0, en", "en"),  # q=0 means "not this one"
        ("*", None),
        ("", None),
        ("xx-YY", None),
        ("de\x00", None),
        ("../../etc/passwd", None),
        ("de;q=abc", None),  # a malformed entry is dropped, as werkzeug reads it
        ("de;q=abc, de-AT;q=0.4", "de"),
        ("a" * 2000, None),
    ],
)
def test_accept_language_negotiation(header: str, expected: str | None) -> None:
    assert languages.from_header(header) == expected


@given(st.text(max_size=300) | st.lists(st.from_regex(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8}){0,2}(;q=[0-9.]{1,5})?",
                                                     fullmatch=True), max_size=8).map(", ".join))
def test_any_header_gives_a_shipped_language_or_none(header: str) -> None:
    chosen = languages.from_header(header)
    assert chosen is None or chosen in SHIPPED
    assert languages.for_request({"HTTP_ACCEPT_LANGUAGE": header}).name in SHIPPED


def test_region_and_script_variants_meet_their_catalogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """pt-BR -> pt_BR, zh-CN and zh-Hans -> zh_Hans, zh-TW never (Traditional script)."""
    monkeypatch.setattr(languages, "shipped", lambda: ("en", "de", "pt_BR", "zh_Hans"))
    languages._shipped_locales.cache_clear()
    try:
        assert languages.match("pt-BR") == "pt_BR"
        assert languages.match("pt") == "pt_BR"
        assert languages.match("pt-PT") == "pt_BR"  # the same language reads better than English
        assert languages.match("zh-CN") == "zh_Hans"
        assert languages.match("zh-Hans") == "zh_Hans"
        assert languages.match("zh") == "zh_Hans"
        assert languages.match("zh-TW") is None
        assert languages.match("zh-Hant") is None
        assert languages.match("en-GB") == "en"
    finally:
        languages._shipped_locales.cache_clear()


def test_the_apps_hook_wins_and_an_unknown_answer_falls_back() -> None:
    environ = {"HTTP_ACCEPT_LANGUAGE": "en"}
    assert languages.for_request(environ, lambda e: "de-AT").name == "de"
    assert languages.for_request({"HTTP_ACCEPT_LANGUAGE": "de"}, lambda e: None).name == "de"
    assert languages.for_request({"HTTP_ACCEPT_LANGUAGE": "de"}, lambda e: "klingon").name == "de"
    assert languages.for_request({}, lambda e: 42).name == "en"  # not a string: ignored

    def broken(environ: dict[str, object]) -> str:
        raise RuntimeError("the app's bug")

    assert languages.for_request({"HTTP_ACCEPT_LANGUAGE": "de"}, broken).name == "de"


def test_the_locale_setting_must_be_a_function() -> None:
    with pytest.raises(ValueError, match="locale must be a function"):
        Settings(locale="de")  # type: ignore[arg-type]


def test_error_messages_are_translated_when_rendered_not_when_raised() -> None:
    german = Language("de")
    locked = Throttled(1)
    assert locked.message == "Too many wrong codes. Try again in 1 second."  # English for logs
    assert german.text(locked.text) == "Zu viele falsche Codes. Versuchen Sie es in 1 Sekunde noch einmal."
    assert german.text(Throttled(1200).text) == (
        "Zu viele falsche Codes. Versuchen Sie es in 1.200 Sekunden noch einmal."  # German digits grouping
    )
    drift = InvalidCode(drift_seconds=-90)
    assert "90 seconds slow" in drift.message and "90 Sekunden nachzugehen" in german.text(drift.text)


def test_event_labels_for_e_mails() -> None:
    assert event_label("disabled") == "Two-factor authentication was turned off."
    assert event_label("disabled", "de-CH") == "Die Zwei-Faktor-Authentifizierung wurde ausgeschaltet."
    assert event_label("disabled", "xx") == "Two-factor authentication was turned off."
    assert event_label("something_new", "de") == "something_new"


def test_english_pages_say_ltr_and_arabic_would_say_rtl() -> None:
    assert (ENGLISH.tag, ENGLISH.direction) == ("en", "ltr")
    assert Language("ar").direction == "rtl"  # from the locale's data, whether or not a catalog ships
    assert Language("zh_Hans").tag == "zh-Hans" and Language("pt_BR").tag == "pt-BR"

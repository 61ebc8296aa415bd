"""recovery: generation, display and normalising what the user types."""

from __future__ import annotations

import pytest

from twofa_middleware import recovery


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("abcde-fghjk", "abcdefghjk", id="as-displayed"),
        pytest.param("abcdefghjk", "abcdefghjk", id="bare"),
        pytest.param("ABCDE-FGHJK", "abcdefghjk", id="upper-case"),
        pytest.param("AbCdE fGhJk", "abcdefghjk", id="mixed-case-space"),
        pytest.param("  abcde - fghjk\n", "abcdefghjk", id="spaces-dash-newline"),
        pytest.param("ab-cd-ef-gh-jk", "abcdefghjk", id="many-dashes"),
        pytest.param("23456-789ab", "23456789ab", id="digits"),
    ],
)
def test_normalise_ignores_case_spaces_and_dashes(raw, expected):
    assert recovery.normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("abcde-fghj", id="nine-chars"),
        pytest.param("abcde-fghjkm", id="eleven-chars"),
        pytest.param("", id="empty"),
        pytest.param("abcde-fghj0", id="zero-ambiguous"),
        pytest.param("abcde-fghj1", id="one-ambiguous"),
        pytest.param("abcde-fghjo", id="letter-o-ambiguous"),
        pytest.param("abcde-fghji", id="letter-i-ambiguous"),
        pytest.param("abcde-fghjl", id="letter-l-ambiguous"),
        pytest.param("abcde_fghjk", id="underscore"),
        pytest.param("ａｂｃｄｅｆｇｈｊｋ", id="full-width"),
        pytest.param("a" * 65, id="too-long-input"),
        pytest.param(None, id="none"),
        pytest.param(1234567890, id="int"),
        pytest.param(b"abcdefghjk", id="bytes"),
    ],
)
def test_normalise_returns_none_for_what_cannot_be_a_code(raw):
    assert recovery.normalise(raw) is None


def test_generate_gives_distinct_codes_of_the_alphabet():
    codes = recovery.generate(10)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert len(code) == recovery.LENGTH == 10
        assert set(code) <= set(recovery.ALPHABET)
        assert recovery.normalise(recovery.display(code)) == code


def test_alphabet_has_no_ambiguous_characters():
    assert not set("01oil") & set(recovery.ALPHABET)


def test_generate_differs_between_calls():
    assert recovery.generate(10) != recovery.generate(10)


def test_display_splits_in_two_halves():
    assert recovery.display("abcdefghjk") == "abcde-fghjk"


def test_as_text_lists_every_code_in_display_form():
    text = recovery.as_text(["abcdefghjk", "2345678923"], "Example", "alice")
    assert "Example recovery codes for alice" in text
    assert "abcde-fghjk\n23456-78923\n" in text

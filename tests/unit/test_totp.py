"""totp: RFC 6238 vectors, an independent generator, the window, drift and replay."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import missing_part
from twofa_middleware import totp
from twofa_middleware.config import Settings
from twofa_middleware.errors import CodeReused, InvalidCode, InvalidRequest

VECTORS = json.loads((Path(__file__).parent / "data" / "rfc6238-vectors.json").read_text())["vectors"]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SETTINGS = Settings()
NOW = 1_700_000_015  # step 56_666_667, 15 s into it
STEP = NOW // 30


def b32(seed_ascii: str) -> str:
    return base64.b32encode(seed_ascii.encode("ascii")).decode("ascii")


@pytest.mark.parametrize(
    "vector", [pytest.param(v, id=f"{v['algorithm']}-t{v['time']}") for v in VECTORS]
)
def test_code_at_matches_rfc6238_appendix_b(vector):
    settings = Settings(totp_digits=vector["digits"], totp_algorithm=vector["algorithm"])
    step = vector["time"] // vector["period"]
    assert totp.code_at(b32(vector["seed_ascii"]), step, settings) == vector["totp"]


def test_vector_file_covers_every_algorithm_and_time():
    assert {v["algorithm"] for v in VECTORS} == {"SHA1", "SHA256", "SHA512"}
    assert len(VECTORS) == 18


@pytest.mark.parametrize(
    "vector",
    [pytest.param(v, id=f"{v['algorithm']}-t{v['time']}") for v in VECTORS[:9]]
    + [pytest.param({"time": NOW, "algorithm": "SHA1", "seed_ascii": "x" * 20, "digits": 6}, id="6-digit-now")],
)
def test_code_at_agrees_with_oathtool(vector):
    if shutil.which("oathtool") is None:
        missing_part("oathtool not installed (Debian package oathtool)")
    settings = Settings(totp_digits=vector["digits"], totp_algorithm=vector["algorithm"])
    secret = b32(vector["seed_ascii"])
    out = subprocess.run(
        ["oathtool", f"--totp={vector['algorithm'].lower()}", "-b", "-d", str(vector["digits"]),
         f"--now=@{vector['time']}", secret],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert totp.code_at(secret, vector["time"] // 30, settings) == out


def test_new_secret_is_160_bits_of_base32():
    secret = totp.new_secret()
    assert len(secret) == 32
    assert len(base64.b32decode(secret)) == 20
    assert totp.new_secret() != secret


def test_provisioning_uri_names_issuer_in_label_and_parameter():
    uri = totp.provisioning_uri(SECRET, "alice", Settings(issuer="Example App"))
    assert uri.startswith("otpauth://totp/Example%20App:alice?")
    assert f"secret={SECRET}" in uri
    assert "issuer=Example%20App" in uri


def test_grouped_splits_secret_into_fours():
    assert totp.grouped("ABCDEFGHIJ") == "ABCD EFGH IJ"


@pytest.mark.parametrize(
    "offset", [pytest.param(-1, id="one-step-behind"), pytest.param(0, id="now"), pytest.param(1, id="one-step-ahead")]
)
def test_verify_accepts_one_step_either_side(offset):
    code = totp.code_at(SECRET, STEP + offset, SETTINGS)
    assert totp.verify(SECRET, code, NOW, -1, SETTINGS) == STEP + offset


@pytest.mark.parametrize(
    "offset, words",
    [
        pytest.param(-2, "60 seconds slow", id="two-steps-behind"),
        pytest.param(-10, "300 seconds slow", id="five-minutes-behind"),
    ],
)
def test_verify_refuses_codes_from_the_past_and_names_the_drift(offset, words):
    code = totp.code_at(SECRET, STEP + offset, SETTINGS)
    with pytest.raises(InvalidCode) as info:
        totp.verify(SECRET, code, NOW, -1, SETTINGS)
    assert info.value.drift_seconds == offset * 30
    assert words in info.value.message


@pytest.mark.parametrize("offset", [pytest.param(2, id="two-steps-ahead"), pytest.param(10, id="five-minutes-ahead")])
def test_verify_gives_no_hint_for_codes_from_the_future(offset):
    """A hint would tell a guesser that the code becomes valid later."""
    code = totp.code_at(SECRET, STEP + offset, SETTINGS)
    with pytest.raises(InvalidCode) as info:
        totp.verify(SECRET, code, NOW, -1, SETTINGS)
    assert info.value.drift_seconds is None
    assert "fast" not in info.value.message and "clock" not in info.value.message


def test_verify_refuses_a_code_far_outside_drift_range_without_drift_hint():
    code = totp.code_at(SECRET, STEP + 1000, SETTINGS)
    # Fixed secret and steps: this holds for these values, checked rather than assumed.
    assert code not in {totp.code_at(SECRET, STEP + d, SETTINGS) for d in range(-20, 21)}
    with pytest.raises(InvalidCode) as info:
        totp.verify(SECRET, code, NOW, -1, SETTINGS)
    assert info.value.drift_seconds is None


def test_window_zero_accepts_only_the_current_step():
    settings = Settings(totp_window=0)
    assert totp.verify(SECRET, totp.code_at(SECRET, STEP, settings), NOW, -1, settings) == STEP
    with pytest.raises(InvalidCode):
        totp.verify(SECRET, totp.code_at(SECRET, STEP + 1, settings), NOW, -1, settings)


@pytest.mark.parametrize(
    "code_step, last_step",
    [
        pytest.param(STEP, STEP, id="same-step-again"),
        pytest.param(STEP - 1, STEP, id="older-step-after-newer"),
        pytest.param(STEP, STEP + 1, id="current-after-next-was-used"),
    ],
)
def test_verify_refuses_replay_of_used_or_older_step(code_step, last_step):
    with pytest.raises(CodeReused) as info:
        totp.verify(SECRET, totp.code_at(SECRET, code_step, SETTINGS), NOW, last_step, SETTINGS)
    assert info.value.status == 409
    assert "already used" in info.value.message


def test_verify_accepts_a_later_step_than_the_last_used():
    code = totp.code_at(SECRET, STEP + 1, SETTINGS)
    assert totp.verify(SECRET, code, NOW, STEP, SETTINGS) == STEP + 1


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("123456", "123456", id="plain"),
        pytest.param("123 456", "123456", id="space-in-middle"),
        pytest.param(" 123-456 ", "123456", id="dash-and-edges"),
    ],
)
def test_parse_code_ignores_spaces_and_dashes(raw, expected):
    assert totp.parse_code(raw, SETTINGS) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("abcdef", id="letters"),
        pytest.param("12345", id="five-digits"),
        pytest.param("1234567", id="seven-digits"),
        pytest.param("1" * 1000, id="1000-chars"),
        pytest.param("１２３４５６", id="full-width-digits"),
        pytest.param("١٢٣٤٥٦", id="arabic-indic-digits"),
        pytest.param(None, id="missing"),
        pytest.param(123456, id="int-not-str"),
    ],
)
def test_parse_code_refuses_anything_but_six_ascii_digits(raw):
    with pytest.raises(InvalidRequest):
        totp.parse_code(raw, SETTINGS)

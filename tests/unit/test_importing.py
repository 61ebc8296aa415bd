"""Reading secrets from another system: every row is accepted or refused with its reason,
and a secret never appears in a refusal."""

from __future__ import annotations

import base64

import pytest

from twofa_middleware.config import Settings
from twofa_middleware.importing import Accepted, Refusal, base32_secret, parse_otpauth, read_csv, read_django_otp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # 160 bits
SHORT = "JBSWY3DPEHPK3PX"  # 75 bits: under the 80-bit floor
DEFAULT = Settings()


def uri(query: str, kind: str = "totp", label: str = "Old%20Site:alice%40example.com") -> str:
    return f"otpauth://{kind}/{label}?{query}"


@pytest.mark.parametrize(
    "value, settings, reason",
    [
        pytest.param(uri(f"secret={SECRET}&algorithm=SHA512"), DEFAULT, "algorithm SHA512, configured SHA1",
                     id="algorithm-not-configured"),
        pytest.param(uri(f"secret={SECRET}&algorithm=MD5"), DEFAULT, "unknown algorithm MD5", id="unknown-algorithm"),
        pytest.param(uri(f"secret={SECRET}&digits=8"), DEFAULT, "8 digits, configured 6", id="eight-digits"),
        pytest.param(uri(f"secret={SECRET}"), Settings(totp_digits=8), "6 digits, configured 8",
                     id="default-six-digits-configured-eight"),
        pytest.param(uri(f"secret={SECRET}&digits=six"), DEFAULT, "digits is not a number", id="digits-not-number"),
        pytest.param(uri(f"secret={SECRET}&period=60"), DEFAULT, "60 second period, configured 30", id="period"),
        pytest.param(uri(f"secret={SECRET}&counter=3", kind="hotp"), DEFAULT, "wrong type hotp, only totp",
                     id="hotp"),
        pytest.param(f"https://example.com/?secret={SECRET}", DEFAULT, "not an otpauth:// URI", id="not-otpauth"),
        pytest.param(uri("issuer=Old"), DEFAULT, "no secret", id="no-secret"),
        pytest.param(uri("secret="), DEFAULT, "no secret", id="empty-secret"),
        pytest.param(uri("secret=JBSWY3DP1HPK3PXP"), DEFAULT, "secret is not valid base32", id="bad-base32"),
        pytest.param(uri(f"secret={SHORT}"), DEFAULT, "secret has 72 bits, at least 80 needed", id="short-secret"),
        pytest.param(uri(f"secret={SECRET}&secret=GEZDGNBVGY3TQOJQGEZDGNBV"), DEFAULT,
                     "parameter secret given more than once", id="two-secrets"),
    ],
)
def test_an_otpauth_uri_this_configuration_cannot_verify_is_refused_with_its_reason(value, settings, reason):
    with pytest.raises(ValueError, match="^" + reason + "$") as refused:
        parse_otpauth(value, settings)
    assert SECRET not in str(refused.value) and SHORT not in str(refused.value)


@pytest.mark.parametrize(
    "value, settings, name",
    [
        pytest.param(uri(f"secret={SECRET}&issuer=Old%20Site"), DEFAULT, "Old Site", id="issuer-parameter"),
        pytest.param(uri(f"secret={SECRET.lower()}"), DEFAULT, "Old Site", id="lower-case-issuer-from-label"),
        pytest.param(uri(f"secret={SECRET}=======", label="alice"), DEFAULT, "imported", id="padding-no-issuer"),
        pytest.param(uri(f"secret={SECRET}&algorithm=sha256&digits=8&period=60"),
                     Settings(totp_algorithm="SHA256", totp_digits=8, totp_period=60), "Old Site",
                     id="matching-non-defaults"),
        pytest.param(f"OTPAUTH://TOTP/x?SECRET={SECRET}&Digits=6", DEFAULT, "imported", id="case-of-scheme-and-keys"),
    ],
)
def test_an_otpauth_uri_that_matches_gives_the_canonical_secret(value, settings, name):
    assert parse_otpauth(value, settings) == (SECRET, name)


def test_base32_secrets_are_canonical():
    assert base32_secret("jbsw y3dp ehpk 3pxp") == "JBSWY3DPEHPK3PXP"
    raw = bytes(range(20))
    assert base32_secret(base64.b32encode(raw).decode()) == base64.b32encode(raw).decode().rstrip("=")


def test_a_csv_gives_one_outcome_per_row_with_its_line_number():
    lines = [
        "user_id,uri\n",
        f"alice,{uri('secret=' + SECRET)}\n",
        "\n",
        "# a comment\n",
        f"bob,{uri('secret=JBSWY3DP1HPK3PXP')}\n",
        f"carol,{uri('secret=' + SECRET)},extra\n",
        f"{uri('secret=' + SECRET)},dave\n",
        f"\u0007eve,{uri('secret=' + SECRET)}\n",
        f"frank,{uri('secret=' + SECRET + '&digits=8')}\n",
        f"grace ,{uri('secret=' + SECRET)}\n",
    ]
    outcomes = read_csv(lines, DEFAULT)
    assert outcomes == [
        Accepted("line 2", "alice", "Old Site", SECRET),
        Refusal("line 5", "bob", "secret is not valid base32"),
        Refusal("line 6", "carol", "3 columns, expected 2 (user_id,otpauth URI)"),
        Refusal("line 7", "", "bad user id (it looks like an otpauth URI: user id comes first)"),
        Refusal("line 8", "", "bad user id"),
        Refusal("line 9", "frank", "8 digits, configured 6"),
        Refusal("line 10", "", "bad user id (spaces around it)"),
    ]
    assert all(SECRET not in repr(o) for o in outcomes)


def test_a_csv_without_header_is_read_from_the_first_line():
    assert read_csv([f"alice,{uri('secret=' + SECRET)}"], DEFAULT) == [Accepted("line 1", "alice", "Old Site", SECRET)]


def test_several_secrets_of_a_user_are_several_authenticators_and_a_repeat_is_refused():
    other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    lines = [f"alice,{uri('secret=' + SECRET)}", f"bob,{uri('secret=' + SECRET)}", f"alice,{uri('secret=' + other)}",
             f"alice,{uri('secret=' + SECRET)}"]
    assert read_csv(lines, DEFAULT) == [
        Accepted("line 1", "alice", "Old Site", SECRET),
        Accepted("line 2", "bob", "Old Site", SECRET),
        Accepted("line 3", "alice", "Old Site", other),  # a second authenticator for alice
        Refusal("line 4", "alice", "duplicate of line 1"),
    ]


def device(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {"id": 7, "name": "phone", "user_id": 42, "step": 30, "t0": 0, "digits": 6,
                              "key": "3132333435363738393031323334353637383930", "last_t": 56_666_667}
    return {**row, **changes}


RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize(
    "row, settings, outcome",
    [
        pytest.param(device(), DEFAULT, Accepted("device 7", "42", "phone", RFC_SECRET, 56_666_667), id="accepted"),
        pytest.param(device(last_t=-1, name=""), DEFAULT, Accepted("device 7", "42", "django-otp", RFC_SECRET, 0),
                     id="never-used"),
        pytest.param(device(key="zz"), DEFAULT, Refusal("device 7", "42", "key is not hex-encoded"), id="not-hex"),
        pytest.param(device(key="31323334"), DEFAULT,
                     Refusal("device 7", "42", "secret has 32 bits, at least 80 needed"), id="short-key"),
        pytest.param(device(digits=8), DEFAULT, Refusal("device 7", "42", "8 digits, configured 6"), id="digits"),
        pytest.param(device(step=60), DEFAULT, Refusal("device 7", "42", "60 second period, configured 30"),
                     id="step"),
        pytest.param(device(t0=100), DEFAULT,
                     Refusal("device 7", "42", "t0 is not 0 (time steps would not line up)"), id="t0"),
        pytest.param(device(), Settings(totp_algorithm="SHA256"),
                     Refusal("device 7", "42", "algorithm SHA1, configured SHA256"), id="algorithm"),
        pytest.param(device(user_id=None), DEFAULT, Refusal("device 7", "", "bad user id"), id="no-user"),
    ],
)
def test_a_django_otp_device_row(row, settings, outcome):
    assert read_django_otp([row], settings) == [outcome]


def test_two_django_otp_devices_of_one_user_are_two_authenticators_unless_the_same_key():
    other_key = "3132333435363738393031323334353637383931"
    outcomes = read_django_otp(
        [device(id=1), device(id=2, key=other_key), device(id=3), device(id=4, user_id=43)], DEFAULT
    )
    assert [(o.where, type(o).__name__) for o in outcomes] == [
        ("device 1", "Accepted"), ("device 2", "Accepted"), ("device 3", "Refusal"), ("device 4", "Accepted")]


def test_a_file_that_is_not_csv_is_refused_as_a_whole():
    with pytest.raises(ValueError, match=r"^line 2: field larger than field limit \(131072\)$"):
        read_csv([f"alice,{uri('secret=' + SECRET)}\n", "bob," + "A" * 200_000 + "\n"], DEFAULT)

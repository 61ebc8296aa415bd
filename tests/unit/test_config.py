"""config: Settings refuses unsafe or impossible values at construction."""

from __future__ import annotations

import dataclasses

import pytest

from twofa_middleware.config import Settings


def test_defaults_are_the_documented_security_defaults():
    s = Settings()
    assert (s.totp_digits, s.totp_period, s.totp_algorithm, s.totp_window) == (6, 30, "SHA1", 1)
    assert (s.lockout_threshold, s.lockout_base_seconds, s.lockout_max_seconds) == (5, 30, 900)
    assert s.recovery_code_count == 10
    assert s.sudo_seconds == 300


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().totp_digits = 8  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs, words",
    [
        pytest.param({"issuer": ""}, "issuer", id="empty-issuer"),
        pytest.param({"issuer": "A:B"}, "issuer", id="colon-in-issuer"),
        pytest.param({"mount": "_2fa"}, "mount", id="mount-relative"),
        pytest.param({"mount": "/_2fa/"}, "mount", id="mount-trailing-slash"),
        pytest.param({"mount": "/"}, "mount", id="mount-root"),
        pytest.param({"totp_digits": 7}, "totp_digits", id="7-digits"),
        pytest.param({"totp_algorithm": "MD5"}, "totp_algorithm", id="md5"),
        pytest.param({"totp_algorithm": "sha1"}, "totp_algorithm", id="lower-case-algorithm"),
        pytest.param({"totp_period": 10}, "totp_period", id="period-too-short"),
        pytest.param({"totp_period": 121}, "totp_period", id="period-too-long"),
        pytest.param({"totp_window": 3}, "totp_window", id="window-too-wide"),
        pytest.param({"totp_window": -1}, "totp_window", id="negative-window"),
        pytest.param({"lockout_threshold": 0}, "lockout_threshold", id="no-lockout"),
        pytest.param({"lockout_base_seconds": 0}, "lockout_base_seconds", id="zero-lock"),
        pytest.param({"lockout_max_seconds": 10}, "lockout_max_seconds", id="max-below-base"),
        pytest.param({"recovery_code_count": 3}, "recovery_code_count", id="too-few-codes"),
        pytest.param({"recovery_code_count": 33}, "recovery_code_count", id="too-many-codes"),
        pytest.param({"sudo_seconds": 29}, "sudo_seconds", id="sudo-too-short"),
        pytest.param({"sudo_seconds": 3601}, "sudo_seconds", id="sudo-too-long"),
        pytest.param({"verified_max_age": 59}, "verified_max_age", id="verified-too-short"),
        pytest.param({"cache_seconds": 61}, "cache_seconds", id="cache-too-long"),
        pytest.param({"cache_seconds": -1}, "cache_seconds", id="negative-cache"),
        pytest.param({"cookie_prefix": "two-fa"}, "cookie_prefix", id="dash-in-cookie-prefix"),
        pytest.param({"cookie_prefix": ""}, "cookie_prefix", id="empty-cookie-prefix"),
        pytest.param({"exempt_paths": ("logout",)}, "exempt path", id="relative-exempt-path"),
        pytest.param({"home_url": "https://evil.com"}, "home_url", id="absolute-home-url"),
        pytest.param({"home_url": "//evil.com"}, "home_url", id="protocol-relative-home-url"),
        pytest.param({"login_url": "login"}, "login_url", id="relative-login-url"),
    ],
)
def test_invalid_settings_raise_value_error_naming_the_field(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Settings(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"totp_digits": 8, "totp_algorithm": "SHA512"}, id="8-digit-sha512"),
        pytest.param({"mount": "/account/2fa"}, id="nested-mount"),
        pytest.param({"totp_window": 0}, id="strict-window"),
        pytest.param({"cache_seconds": 0}, id="no-cache"),
        pytest.param({"login_url": "/login", "exempt_paths": ("/logout",)}, id="paths"),
    ],
)
def test_valid_settings_are_accepted(kwargs):
    Settings(**kwargs)

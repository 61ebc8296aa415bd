"""config: Settings refuses unsafe or impossible values at construction."""

from __future__ import annotations

import dataclasses
import re

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
        pytest.param({"webauthn_rp_id": "127.0.0.1"}, "RP ID", id="ip-as-rp-id"),
        pytest.param({"webauthn_rp_id": "Example.com"}, "RP ID", id="upper-case-rp-id"),
        pytest.param({"webauthn_origins": ("http://app.example.com",)}, "origin", id="plain-http-origin"),
        pytest.param({"webauthn_origins": ("https://app.example.com/login",)}, "origin", id="origin-with-path"),
        pytest.param({"webauthn_origins": ("https://app.example.com:443",)}, "origin", id="origin-default-port"),
        pytest.param({"webauthn_origins": "https://app.example.com"}, "webauthn_origins", id="origins-as-string"),
        pytest.param({"webauthn_rp_id": "example.com", "webauthn_origins": ("https://evil.test",)}, "RP ID",
                     id="origin-outside-rp-id"),
        pytest.param({"webauthn_origins": ("https://a.example.com", "https://b.example.org")}, "RP ID",
                     id="two-hosts-without-rp-id"),
        pytest.param({"webauthn_challenge_seconds": 5}, "webauthn_challenge_seconds", id="challenge-too-short"),
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
        pytest.param({"logout_url": "//evil.com/out"}, "logout_url", id="protocol-relative-logout-url"),
        pytest.param({"home_url": None}, "home_url", id="no-home-url"),
        pytest.param({"issuer": "x" * 101}, "issuer", id="issuer-too-long"),
        pytest.param({"drift_steps": 0}, "drift_steps", id="drift-below-window"),
        pytest.param({"drift_steps": 121}, "drift_steps", id="drift-too-far"),
        pytest.param({"lockout_base_seconds": 86401}, "lockout_base_seconds", id="first-lock-over-a-day"),
        pytest.param({"lockout_max_seconds": 86401}, "lockout_max_seconds", id="max-lock-over-a-day"),
        pytest.param({"recovery_codes_warn_below": -1}, "recovery_codes_warn_below", id="negative-warning"),
        pytest.param({"recovery_codes_warn_below": 11}, "recovery_codes_warn_below", id="warning-above-count"),
        pytest.param({"verified_max_age": 31 * 86400 + 1}, "verified_max_age", id="verified-over-31-days"),
        pytest.param({"cache_seconds": float("nan")}, "cache_seconds", id="nan-cache"),
        pytest.param({"enrollment_seconds": 59}, "enrollment_seconds", id="setup-too-short"),
        pytest.param({"enrollment_seconds": 86401}, "enrollment_seconds", id="setup-over-a-day"),
        pytest.param({"max_token_days": 0}, "max_token_days", id="tokens-of-no-days"),
        pytest.param({"max_token_days": 3661}, "max_token_days", id="tokens-over-ten-years"),
        pytest.param({"max_authenticators": 0}, "max_authenticators", id="no-authenticators-at-all"),
        pytest.param({"max_authenticators": 101}, "max_authenticators", id="over-a-hundred-authenticators"),
        pytest.param({"max_authenticators": True}, "max_authenticators", id="authenticators-as-bool"),
        pytest.param({"cookie_prefix": "x" * 33}, "cookie_prefix", id="cookie-prefix-too-long"),
        pytest.param({"exempt_paths": "/logout"}, "exempt_paths", id="one-string-of-exempt-paths"),
        pytest.param({"require_enrollment": True}, "require_enrollment", id="require-enrollment-not-a-function"),
        pytest.param({"sign_out": "/logout"}, "sign_out", id="sign-out-not-a-function"),
    ],
)
def test_invalid_settings_raise_value_error_naming_the_field(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Settings(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        pytest.param({"totp_digits": "6"}, "totp_digits", id="digits-as-text"),
        pytest.param({"totp_digits": True}, "totp_digits", id="digits-as-bool"),
        pytest.param({"totp_period": "30"}, "totp_period", id="period-as-text"),
        pytest.param({"totp_window": True}, "totp_window", id="window-as-bool"),
        pytest.param({"drift_steps": 2.5}, "drift_steps", id="drift-as-fraction"),
        pytest.param({"lockout_threshold": 5.0}, "lockout_threshold", id="threshold-as-float"),
        pytest.param({"sudo_seconds": None}, "sudo_seconds", id="sudo-as-none"),
        pytest.param({"cache_seconds": "5"}, "cache_seconds", id="cache-as-text"),
        pytest.param({"max_token_days": 30.5}, "max_token_days", id="token-days-as-fraction"),
        pytest.param({"max_authenticators": 2.5}, "max_authenticators", id="authenticators-as-fraction"),
        pytest.param({"enrollment_seconds": "900"}, "enrollment_seconds", id="setup-as-text"),
        pytest.param({"cookie_secure": 1}, "cookie_secure", id="secure-as-int"),
        pytest.param({"cookie_secure": "yes"}, "cookie_secure", id="secure-as-text"),
        pytest.param({"exempt_paths": (b"/logout",)}, "exempt path", id="exempt-path-as-bytes"),
        pytest.param({"issuer": None}, "issuer", id="issuer-as-none"),
    ],
)
def test_values_of_the_wrong_type_raise_value_error_naming_the_field(kwargs, field):
    """A value read from the environment or a config file arrives as text: it is refused, not compared."""
    with pytest.raises(ValueError, match=field):
        Settings(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"totp_digits": 8, "totp_algorithm": "SHA512"}, id="8-digit-sha512"),
        pytest.param({"mount": "/account/2fa"}, id="nested-mount"),
        pytest.param({"webauthn_origins": ("http://localhost:5000",)}, id="localhost-for-development"),
        pytest.param({"webauthn_rp_id": "example.com",
                      "webauthn_origins": ("https://app.example.com", "https://example.com")}, id="behind-a-proxy"),
        pytest.param({"totp_window": 0}, id="strict-window"),
        pytest.param({"cache_seconds": 0}, id="no-cache"),
        pytest.param({"login_url": "/login", "exempt_paths": ("/logout",)}, id="paths"),
        pytest.param({"exempt_paths": ["/logout"]}, id="exempt-paths-as-list"),
        pytest.param({"drift_steps": 1}, id="no-clock-hints"),
        pytest.param({"totp_window": 0, "drift_steps": 0}, id="strict-window-no-hints"),
        pytest.param({"drift_steps": 120}, id="hints-for-an-hour"),
        pytest.param({"lockout_threshold": 10_000}, id="lockout-off-for-race-tests"),
        pytest.param({"recovery_codes_warn_below": 0}, id="never-warn"),
        pytest.param({"recovery_codes_warn_below": 10}, id="warn-below-a-full-set"),
        pytest.param({"cache_seconds": 0.5}, id="fractional-cache"),
        pytest.param({"enrollment_seconds": 60}, id="one-minute-setup"),
        pytest.param({"enrollment_seconds": 86400}, id="one-day-setup"),
        pytest.param({"max_token_days": 1}, id="day-long-tokens"),
        pytest.param({"max_token_days": 3660}, id="ten-year-tokens"),
        pytest.param({"max_authenticators": 1}, id="one-authenticator-only"),
        pytest.param({"max_authenticators": 100}, id="a-hundred-authenticators"),
        pytest.param({"verified_max_age": 31 * 86400}, id="verified-for-31-days"),
        pytest.param({"cookie_secure": True, "cookie_prefix": "my_app_2fa"}, id="cookies"),
        pytest.param({"require_enrollment": lambda user_id: True, "sign_out": lambda environ: []}, id="hooks"),
    ],
)
def test_valid_settings_are_accepted(kwargs):
    Settings(**kwargs)


def test_the_docstring_describes_every_field():
    documented = set(re.findall(r":param (\w+):", Settings.__doc__ or ""))
    assert documented == {f.name for f in dataclasses.fields(Settings)}

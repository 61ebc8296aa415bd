"""crypto: encryption at rest, key rotation, key length, keys out of repr."""

from __future__ import annotations

import pytest

from twofa_middleware.crypto import KeyRing, Secret

OLD = "old-secret-key-0123456789abcdef"
NEW = "new-secret-key-0123456789abcdef"


def test_encrypt_decrypt_round_trip():
    ring = KeyRing(NEW)
    token = ring.encrypt("JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in token
    assert ring.decrypt(token) == "JBSWY3DPEHPK3PXP"


def test_encrypt_is_randomised():
    ring = KeyRing(NEW)
    assert ring.encrypt("same") != ring.encrypt("same")


def test_data_under_old_key_is_read_with_new_and_old_keys():
    token = KeyRing(OLD).encrypt("secret")
    assert KeyRing([NEW, OLD]).decrypt(token) == "secret"


def test_data_under_old_key_is_not_read_once_old_key_is_dropped():
    token = KeyRing(OLD).encrypt("secret")
    with pytest.raises(ValueError, match="not encrypted with any of the configured keys"):
        KeyRing([NEW]).decrypt(token)


def test_new_data_is_written_under_newest_key():
    token = KeyRing([NEW, OLD]).encrypt("secret")
    assert KeyRing(NEW).decrypt(token) == "secret"
    with pytest.raises(ValueError, match="not encrypted with any of the configured keys"):
        KeyRing(OLD).decrypt(token)


@pytest.mark.parametrize(
    "token", [pytest.param("not-a-token", id="garbage"), pytest.param("", id="empty")]
)
def test_decrypt_of_garbage_is_value_error(token):
    with pytest.raises(ValueError, match="not encrypted with any of the configured keys"):
        KeyRing(NEW).decrypt(token)


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param("short", id="short-str"),
        pytest.param(b"x" * 15, id="15-bytes"),
        pytest.param([NEW, "short"], id="one-short-in-list"),
        pytest.param([], id="empty-list"),
        pytest.param("", id="empty-str"),
    ],
)
def test_keys_too_short_or_missing_are_refused(keys):
    with pytest.raises(ValueError, match=r"secret[ _]key"):
        KeyRing(keys)


def test_sixteen_byte_key_is_enough():
    KeyRing(b"x" * 16)


def test_repr_and_str_hide_keys():
    ring = KeyRing([NEW, OLD])
    assert NEW not in repr(ring) and OLD not in repr(ring)
    assert repr(ring) == "KeyRing(2 keys)"
    secret = Secret("hunter2-hunter2-hunter2")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret)
    held = repr(vars(ring))  # what a traceback's locals or a debugger show of the ring
    assert NEW not in held and OLD not in held


def test_mac_differs_by_purpose_and_key():
    ring = KeyRing(NEW)
    assert ring.mac("a", "m") != ring.mac("b", "m")
    assert ring.mac("a", "m") != KeyRing(OLD).mac("a", "m")
    assert KeyRing([NEW, OLD]).macs("a", "m") == [ring.mac("a", "m"), KeyRing(OLD).mac("a", "m")]

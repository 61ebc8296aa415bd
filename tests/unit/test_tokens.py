"""tokens: personal access token format, checksum and path limits."""

from __future__ import annotations

import string

import pytest

from twofa_middleware import tokens


def test_mint_has_prefix_length_and_base62_body():
    token = tokens.mint()
    assert token.startswith("tfa_")
    assert len(token) == tokens.LENGTH == 4 + 43 + 6
    assert set(token[4:]) <= set(string.ascii_letters + string.digits)
    assert tokens.is_well_formed(token)


def test_mint_is_random():
    assert len({tokens.mint() for _ in range(50)}) == 50


def test_flipping_any_char_breaks_the_checksum():
    token = tokens.mint()
    for i in range(len("tfa_"), len(token)):
        other = "0" if token[i] != "0" else "1"
        assert not tokens.is_well_formed(token[:i] + other + token[i + 1 :]), i


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: "ghp_" + t[4:], id="wrong-prefix"),
        pytest.param(lambda t: t[:-1], id="too-short"),
        pytest.param(lambda t: t + "0", id="too-long"),
        pytest.param(lambda t: t[:10] + "-" + t[11:], id="bad-character"),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_is_well_formed_rejects_malformed_tokens(mangle):
    assert not tokens.is_well_formed(mangle(tokens.mint()))


def test_hash_token_is_sha256_hex_and_display_prefix_is_short():
    token = tokens.mint()
    assert len(tokens.hash_token(token)) == 64
    assert tokens.hash_token(token) != tokens.hash_token(tokens.mint())
    assert tokens.display_prefix(token) == token[:10]


def test_the_in_memory_cache_key_is_a_keyed_hash_not_the_stored_one():
    """A memory dump of the token cache gives neither tokens nor the store's hashes."""
    token = tokens.mint()
    key = tokens.cache_key(token)
    assert key == tokens.cache_key(token) and len(key) == 32
    assert key != tokens.cache_key(tokens.mint())
    assert key != bytes.fromhex(tokens.hash_token(token)) and token.encode() not in key


@pytest.mark.parametrize(
    "path, prefixes, allowed",
    [
        pytest.param("/anything", (), True, id="no-limit"),
        pytest.param("/api", ("/api",), True, id="exact"),
        pytest.param("/api/me", ("/api",), True, id="below"),
        pytest.param("/api/me", ("/api/",), True, id="prefix-with-slash"),
        pytest.param("/apix", ("/api",), False, id="sibling-with-same-start"),
        pytest.param("/settings", ("/api",), False, id="elsewhere"),
        pytest.param("/reports/1", ("/api", "/reports"), True, id="second-prefix"),
        pytest.param("/x", ("/",), True, id="root-allows-all"),
    ],
)
def test_path_allowed(path, prefixes, allowed):
    assert tokens.path_allowed(path, prefixes) is allowed


@pytest.mark.parametrize(
    "paths, expected",
    [
        pytest.param(None, (), id="none-means-all"),
        pytest.param(["/api"], ("/api",), id="one"),
        pytest.param(["api"], None, id="relative"),
        pytest.param(["//evil.com"], None, id="protocol-relative"),
        pytest.param(["/a b"], None, id="space"),
        pytest.param("/api", None, id="string-not-list"),
        pytest.param(["/a"] * 21, None, id="too-many"),
    ],
)
def test_normalise_paths(paths, expected):
    assert tokens.normalise_paths(paths) == expected


def test_the_cache_key_is_the_keyed_blake2s_of_the_token():
    """The pre-keyed copy the hot path hashes with gives the keyed digest, not an unkeyed one."""
    import hashlib

    token = tokens.mint()
    assert tokens.cache_key(token) == hashlib.blake2s(token.encode(), key=tokens._CACHE_KEY).digest()
    assert tokens.cache_key(token) != hashlib.blake2s(token.encode()).digest()

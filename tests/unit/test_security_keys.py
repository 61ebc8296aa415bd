"""security_keys: responses made by a small software authenticator (P-256, attestation
"none", built here byte by byte from the WebAuthn spec), then spoiled one way at a time."""

from __future__ import annotations

import copy
import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from twofa_middleware import security_keys as sk
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidRequest, InvalidSecurityKey, SecurityKeyCloned

RP_ID = "example.com"
ORIGIN = "https://example.com"
NOW = 1_700_000_000.0
USER, SESSION = "alice@example.com", "session-key-1"


@dataclass
class SoftKey:
    """A security key in software: one credential, a counter it bumps per signature."""

    credential_id: bytes = b"\x01" * 16 + b"soft-key"
    sign_count: int = 0

    def __post_init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())

    def cose_key(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def client_data(self, kind: str, challenge: bytes, origin: str = ORIGIN, **extra: Any) -> bytes:
        return json.dumps({"type": kind, "challenge": sk.b64url(challenge), "origin": origin, **extra}).encode()

    def auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", self.sign_count) + attested

    def create(self, challenge: bytes, rp_id: str = RP_ID, origin: str = ORIGIN) -> dict[str, Any]:
        attested = b"\x00" * 16 + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_key()
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": self.auth_data(rp_id, 0x45, attested)})
        return {
            "id": sk.b64url(self.credential_id), "rawId": sk.b64url(self.credential_id), "type": "public-key",
            "authenticatorAttachment": "cross-platform",
            "response": {
                "clientDataJSON": sk.b64url(self.client_data("webauthn.create", challenge, origin)),
                "attestationObject": sk.b64url(attestation), "transports": ["usb", "nfc", "warp-drive"],
            },
        }

    def get(self, challenge: bytes, rp_id: str = RP_ID, origin: str = ORIGIN, user_handle: bytes | None = None,
            bump: int = 1) -> dict[str, Any]:
        self.sign_count += bump
        auth_data = self.auth_data(rp_id, 0x05)
        client_data = self.client_data("webauthn.get", challenge, origin)
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": sk.b64url(self.credential_id), "rawId": sk.b64url(self.credential_id), "type": "public-key",
            "response": {
                "clientDataJSON": sk.b64url(client_data), "authenticatorData": sk.b64url(auth_data),
                "signature": sk.b64url(signature),
                "userHandle": None if user_handle is None else sk.b64url(user_handle),
            },
        }


KEYS = KeyRing("a test secret key of some length")


def state_for(challenge: bytes, purpose: sk.Purpose, **overrides: Any) -> sk.ChallengeState:
    options: dict[str, Any] = {"user_id": USER, "session_key": SESSION, "purpose": purpose, "now": NOW}
    return sk.new_challenge_state(challenge, **(options | overrides))


def register(key: SoftKey) -> sk.NewCredential:
    challenge = sk.new_challenge()
    response = sk.parse_registration_response(key.create(challenge))
    return sk.verify_registration(
        response, state_for(challenge, sk.Purpose.REGISTER), user_id=USER, session_key=SESSION, now=NOW + 1,
        rp_id=RP_ID, origins=[ORIGIN],
    )


def authenticate(key: SoftKey, stored: sk.StoredCredential | None, raw: dict[str, Any] | None = None,
                 challenge: bytes | None = None, **overrides: Any) -> int:
    if raw is None:
        challenge = sk.new_challenge()
        raw = key.get(challenge, user_handle=sk.user_handle(KEYS, USER))
    response = sk.parse_authentication_response(raw)
    state = state_for(challenge or response.challenge, sk.Purpose.AUTHENTICATE)
    options: dict[str, Any] = {
        "credential": stored, "user_id": USER, "session_key": SESSION, "now": NOW + 1, "rp_id": RP_ID,
        "origins": [ORIGIN], "user_handles": sk.user_handles(KEYS, USER),
    }
    return sk.verify_authentication(response, state, **(options | overrides))


def reason(excinfo: pytest.ExceptionInfo[InvalidSecurityKey]) -> str:
    return excinfo.value.reason


# -- the happy paths -------------------------------------------------------------------


def test_a_registration_verifies_into_the_credential_to_store() -> None:
    key = SoftKey()
    new = register(key)
    assert new.credential_id == key.credential_id
    assert new.public_key == key.cose_key()
    assert new.sign_count == 0
    assert new.transports == ("nfc", "usb")  # unknown names dropped
    assert new.aaguid == "00000000-0000-0000-0000-000000000000"
    assert (new.user_verified, new.backed_up, new.device_type) == (True, False, "single_device")


def test_a_sign_in_returns_the_new_counter() -> None:
    key = SoftKey()
    new = register(key)
    stored = sk.StoredCredential(new.credential_id, new.public_key, new.sign_count)
    assert authenticate(key, stored) == 1
    assert authenticate(key, sk.StoredCredential(new.credential_id, new.public_key, 1)) == 2


def test_a_key_without_a_counter_signs_in_with_zero_every_time() -> None:
    key = SoftKey()
    new = register(key)
    stored = sk.StoredCredential(new.credential_id, new.public_key, 0)
    raw = key.get(challenge := sk.new_challenge(), bump=0)
    assert authenticate(key, stored, raw, challenge) == 0


@pytest.mark.parametrize(
    "stored_count, bump",
    [
        pytest.param(5, -5, id="counter back to zero"),
        pytest.param(5, -2, id="counter went down"),
        pytest.param(5, 0, id="counter did not move"),
    ],
)
def test_a_counter_that_does_not_go_up_is_a_cloned_key(stored_count: int, bump: int) -> None:
    key = SoftKey()
    new = register(key)
    key.sign_count = stored_count
    raw = key.get(challenge := sk.new_challenge(), bump=bump)
    with pytest.raises(SecurityKeyCloned) as excinfo:
        authenticate(key, sk.StoredCredential(new.credential_id, new.public_key, stored_count), raw, challenge)
    assert excinfo.value.code == "security_key_cloned"
    assert (excinfo.value.stored, excinfo.value.received) == (stored_count, stored_count + bump)


def test_a_badly_signed_response_with_a_low_counter_is_invalid_not_cloned() -> None:
    key, other = SoftKey(), SoftKey()
    new = register(key)
    raw = other.get(challenge := sk.new_challenge())
    with pytest.raises(InvalidSecurityKey) as excinfo:
        authenticate(key, sk.StoredCredential(new.credential_id, new.public_key, 9), raw, challenge)
    assert type(excinfo.value) is InvalidSecurityKey
    assert reason(excinfo) == "not_verified"


# -- malformed input ------------------------------------------------------------------------


def spoil(path: tuple[str, ...], value: Any) -> Any:
    def apply(raw: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(raw)
        target = out
        for part in path[:-1]:
            target = target[part]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return out

    return apply


def b64(data: bytes) -> str:
    return sk.b64url(data)


COMMON_SPOILS = [
    pytest.param(lambda raw: "not json", id="not JSON"),
    pytest.param(lambda raw: json.dumps([raw]), id="a JSON list"),
    pytest.param(lambda raw: 42, id="a number"),
    pytest.param(lambda raw: " " * (sk.MAX_RESPONSE_BYTES + 1), id="oversize text"),
    pytest.param(spoil(("padding",), "x" * sk.MAX_RESPONSE_BYTES), id="oversize object"),
    pytest.param(lambda raw: "[" * 20_000, id="deeply nested"),
    pytest.param(spoil(("response",), KeyError), id="no response"),
    pytest.param(spoil(("response",), "text"), id="response not an object"),
    pytest.param(spoil(("type",), "password"), id="wrong type"),
    pytest.param(spoil(("id",), "AAAA"), id="id is not rawId"),
    pytest.param(spoil(("rawId",), 12), id="rawId a number"),
    pytest.param(spoil(("rawId",), ""), id="rawId empty"),
    pytest.param(spoil(("rawId",), "AQID=="), id="rawId padded"),
    pytest.param(spoil(("rawId",), "AQ+/"), id="rawId plain base64"),
    pytest.param(spoil(("rawId",), "A"), id="rawId impossible length"),
    pytest.param(spoil(("rawId",), "A" * 2000), id="rawId oversize"),
    pytest.param(spoil(("response", "clientDataJSON"), "%%%"), id="clientDataJSON not base64url"),
    pytest.param(spoil(("response", "clientDataJSON"), b64(b"\xff\xfe")), id="clientDataJSON not UTF-8"),
    pytest.param(spoil(("response", "clientDataJSON"), b64(b"{oops")), id="clientDataJSON not JSON"),
    pytest.param(spoil(("response", "clientDataJSON"), b64(b"[]")), id="clientDataJSON not an object"),
    pytest.param(spoil(("response", "clientDataJSON"), b64(b'{"type": "webauthn.create"}')
                       ), id="clientDataJSON without challenge"),
    pytest.param(spoil(("authenticatorAttachment",), "pocket"), id="unknown attachment"),
]


def reg_client_data(**fields: Any) -> str:
    return b64(json.dumps({"type": "webauthn.create", "origin": ORIGIN, **fields}).encode())


@pytest.mark.parametrize(
    "make",
    [
        *COMMON_SPOILS,
        pytest.param(spoil(("response", "clientDataJSON"), reg_client_data(type="webauthn.get", challenge=b64(
            b"c" * 32))), id="a sign-in's client data"),
        pytest.param(spoil(("response", "clientDataJSON"), reg_client_data(challenge=b64(b"c" * 16))),
                     id="challenge of the wrong length"),
        pytest.param(spoil(("response", "clientDataJSON"), reg_client_data(challenge=b64(b"c" * 32),
                                                                           crossOrigin=True)), id="cross-origin"),
        pytest.param(spoil(("response", "attestationObject"), KeyError), id="no attestationObject"),
        pytest.param(spoil(("response", "attestationObject"), ["list"]), id="attestationObject a list"),
        pytest.param(spoil(("response", "transports"), "usb"), id="transports not a list"),
        pytest.param(spoil(("response", "transports"), ["usb"] * 9), id="too many transports"),
    ],
)
def test_a_malformed_registration_is_refused_before_verifying(make: Any) -> None:
    raw = make(SoftKey().create(sk.new_challenge()))
    with pytest.raises(InvalidSecurityKey) as excinfo:
        sk.parse_registration_response(raw)
    assert excinfo.value.code == "invalid_security_key"
    assert excinfo.value.status == 400


@pytest.mark.parametrize(
    "make",
    [
        *COMMON_SPOILS,
        pytest.param(spoil(("response", "signature"), KeyError), id="no signature"),
        pytest.param(spoil(("response", "signature"), "A" * 2000), id="signature oversize"),
        pytest.param(spoil(("response", "authenticatorData"), None), id="authenticatorData null"),
        pytest.param(spoil(("response", "userHandle"), "A" * 100), id="userHandle oversize"),
        pytest.param(spoil(("response", "userHandle"), 7), id="userHandle a number"),
    ],
)
def test_a_malformed_sign_in_is_refused_before_verifying(make: Any) -> None:
    raw = make(SoftKey().get(sk.new_challenge()))
    with pytest.raises(InvalidSecurityKey):
        sk.parse_authentication_response(raw)


@pytest.mark.parametrize(
    "make, expected",
    [
        pytest.param(lambda key, c: key.create(c, rp_id="evil.example"), "not_verified", id="another RP ID"),
        pytest.param(lambda key, c: key.create(c, origin="https://evil.example"), "not_verified",
                     id="another origin"),
        pytest.param(lambda key, c: spoil(("id",), b64(b"other"))(spoil(("rawId",), b64(b"other"))(key.create(c))),
                     "malformed", id="rawId not the attested credential id"),
        pytest.param(lambda key, c: spoil(("response", "attestationObject"), b64(b"\xa0"))(key.create(c)),
                     "not_verified", id="attestationObject an empty map"),
        pytest.param(lambda key, c: spoil(("response", "attestationObject"), b64(b"\xff" * 40))(key.create(c)),
                     "not_verified", id="attestationObject not CBOR"),
    ],
)
def test_a_well_formed_registration_that_does_not_verify_is_refused(make: Any, expected: str) -> None:
    challenge = sk.new_challenge()
    response = sk.parse_registration_response(make(SoftKey(), challenge))
    with pytest.raises(InvalidSecurityKey) as excinfo:
        sk.verify_registration(
            response, state_for(challenge, sk.Purpose.REGISTER), user_id=USER, session_key=SESSION, now=NOW,
            rp_id=RP_ID, origins=[ORIGIN],
        )
    assert reason(excinfo) == expected


@pytest.mark.parametrize(
    "make, stored, expected",
    [
        pytest.param(lambda key, c: key.get(c, rp_id="evil.example"), True, "not_verified", id="another RP ID"),
        pytest.param(lambda key, c: key.get(c, origin="https://evil.example"), True, "not_verified",
                     id="another origin"),
        pytest.param(lambda key, c: key.get(c, user_handle=b"someone else"), True, "user_handle",
                     id="another user's handle"),
        pytest.param(lambda key, c: key.get(c), False, "unknown_credential", id="no such credential"),
        pytest.param(lambda key, c: spoil(("response", "signature"), b64(b"\x30\x00"))(key.get(c)), True,
                     "not_verified", id="bad signature"),
        pytest.param(lambda key, c: spoil(("response", "authenticatorData"), b64(b"short"))(key.get(c)), True,
                     "not_verified", id="authenticatorData too short"),
    ],
)
def test_a_well_formed_sign_in_that_does_not_verify_is_refused(make: Any, stored: bool, expected: str) -> None:
    key = SoftKey()
    new = register(key)
    challenge = sk.new_challenge()
    credential = sk.StoredCredential(new.credential_id, new.public_key, 0) if stored else None
    with pytest.raises(InvalidSecurityKey) as excinfo:
        authenticate(key, credential, make(key, challenge), challenge)
    assert reason(excinfo) == expected


def test_a_credential_of_another_id_is_not_accepted_for_this_one() -> None:
    key = SoftKey()
    new = register(key)
    other = sk.StoredCredential(b"another id", new.public_key, 0)
    with pytest.raises(InvalidSecurityKey) as excinfo:
        authenticate(key, other)
    assert reason(excinfo) == "unknown_credential"


# -- the challenge state --------------------------------------------------------------------


@pytest.mark.parametrize(
    "state_overrides, check_overrides, expected",
    [
        pytest.param({}, {"now": NOW + sk.CHALLENGE_SECONDS}, "expired", id="expired"),
        pytest.param({"ttl": 10}, {"now": NOW + 11}, "expired", id="expired, shorter ttl"),
        pytest.param({"user_id": "bob"}, {}, "wrong_user", id="another user's challenge"),
        pytest.param({"session_key": "session-key-2"}, {}, "wrong_session", id="another sign-in's challenge"),
        pytest.param({"purpose": sk.Purpose.REGISTER}, {}, "wrong_purpose", id="a registration's challenge"),
        pytest.param({}, {"session_key": ""}, "wrong_session", id="no sign-in key"),
        pytest.param({}, {"challenge": b"x" * 32}, "challenge", id="another challenge"),
    ],
)
def test_a_challenge_state_that_does_not_match_is_refused(
    state_overrides: dict[str, Any], check_overrides: dict[str, Any], expected: str
) -> None:
    challenge = sk.new_challenge()
    state = state_for(challenge, **({"purpose": sk.Purpose.AUTHENTICATE} | state_overrides))
    options: dict[str, Any] = {
        "challenge": challenge, "user_id": USER, "session_key": SESSION, "purpose": sk.Purpose.AUTHENTICATE,
        "now": NOW,
    }
    sk.check_challenge_state(state_for(challenge, sk.Purpose.AUTHENTICATE), **options)  # unspoiled: passes
    with pytest.raises(InvalidSecurityKey) as excinfo:
        sk.check_challenge_state(state, **(options | check_overrides))
    assert reason(excinfo) == expected


def test_a_used_challenge_is_refused_the_second_time() -> None:
    """The store consumes a state once; a second finish gets None, as from a dict's pop."""
    key = SoftKey()
    new = register(key)
    states: dict[str, sk.ChallengeState] = {}
    challenge = sk.new_challenge()
    state = state_for(challenge, sk.Purpose.AUTHENTICATE)
    states[state.key] = state
    raw = key.get(challenge)
    stored = sk.StoredCredential(new.credential_id, new.public_key, 0)
    options: dict[str, Any] = {
        "credential": stored, "user_id": USER, "session_key": SESSION, "now": NOW, "rp_id": RP_ID,
        "origins": [ORIGIN], "user_handles": (),
    }
    response = sk.parse_authentication_response(raw)
    assert sk.verify_authentication(response, states.pop(sk.challenge_key(response.challenge), None), **options) == 1
    with pytest.raises(InvalidSecurityKey) as excinfo:
        sk.verify_authentication(response, states.pop(sk.challenge_key(response.challenge), None), **options)
    assert reason(excinfo) == "challenge"


@pytest.mark.parametrize("user_id, session_key", [("", SESSION), (USER, "")])
def test_a_challenge_state_needs_a_user_and_a_sign_in_key(user_id: str, session_key: str) -> None:
    with pytest.raises(ValueError, match="sign-in key"):
        sk.new_challenge_state(
            sk.new_challenge(), user_id=user_id, session_key=session_key, purpose=sk.Purpose.REGISTER, now=NOW
        )


def test_the_state_keeps_neither_the_challenge_nor_the_session_key() -> None:
    challenge = sk.new_challenge()
    state = state_for(challenge, sk.Purpose.REGISTER)
    assert len(challenge) == 32
    assert state.key == hashlib.sha256(challenge).hexdigest()
    assert SESSION not in repr(state) and sk.b64url(challenge) not in repr(state) and challenge.hex() not in repr(state)
    assert state.expires_at == NOW + sk.CHALLENGE_SECONDS


# -- options ---------------------------------------------------------------------------------


def test_registration_options_exclude_the_users_keys_and_ask_for_no_attestation() -> None:
    ceremony = sk.registration_options(
        rp_id=RP_ID, rp_name="Example", user_handle=sk.user_handle(KEYS, USER), user_name=USER,
        existing=[sk.CredentialRef(b"key-1", ("usb", "made-up")), sk.CredentialRef(b"key-2")],
    )
    options = ceremony.options
    assert options["challenge"] == sk.b64url(ceremony.challenge) and len(ceremony.challenge) == 32
    assert options["rp"] == {"id": RP_ID, "name": "Example"}
    assert options["user"]["id"] == sk.b64url(sk.user_handle(KEYS, USER))
    assert options["excludeCredentials"] == [
        {"id": sk.b64url(b"key-1"), "type": "public-key", "transports": ["usb"]},
        {"id": sk.b64url(b"key-2"), "type": "public-key"},
    ]
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"] == {
        "residentKey": "preferred", "requireResidentKey": False, "userVerification": "preferred",
    }
    json.dumps(options)  # ready for the browser as it is


def test_authentication_options_name_the_users_keys() -> None:
    ceremony = sk.authentication_options(rp_id=RP_ID, allowed=[sk.CredentialRef(b"key-1", ("internal",))])
    assert ceremony.options == {
        "challenge": sk.b64url(ceremony.challenge), "timeout": sk.CHALLENGE_SECONDS * 1000, "rpId": RP_ID,
        "allowCredentials": [{"id": sk.b64url(b"key-1"), "type": "public-key", "transports": ["internal"]}],
        "userVerification": "preferred",
    }
    assert sk.authentication_options(rp_id=RP_ID, allowed=[]).challenge != ceremony.challenge


def test_the_user_handle_is_keyed_stable_and_reveals_nothing() -> None:
    handle = sk.user_handle(KEYS, USER)
    assert len(handle) == 32
    assert handle == sk.user_handle(KeyRing("a test secret key of some length"), USER)
    assert handle != sk.user_handle(KEYS, "bob")
    assert handle != sk.user_handle(KeyRing("another secret key, just as long"), USER)
    assert b"alice" not in handle
    rotated = KeyRing(["the newer secret key of the app", "a test secret key of some length"])
    assert sk.user_handles(rotated, USER)[1] == handle


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param("  My YubiKey ", "My YubiKey", id="trimmed"),
        pytest.param("x" * 64, "x" * 64, id="64 characters"),
    ],
)
def test_a_key_name_is_clean_text(value: str, expected: str) -> None:
    assert sk.parse_name(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("x" * 65, id="too long"),
        pytest.param("a\x00b", id="control character"),
        pytest.param("\ud800", id="lone surrogate"),
        pytest.param(None, id="missing"),
        pytest.param(["a"], id="a list"),
    ],
)
def test_a_bad_key_name_is_refused(value: object) -> None:
    with pytest.raises(InvalidRequest):
        sk.parse_name(value)


# -- origins and RP ID ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scheme, host, rp_id, origins, expected",
    [
        pytest.param("https", "example.com", None, (), (("https://example.com",), "example.com"), id="https"),
        pytest.param("https", "Example.COM:443", None, (), (("https://example.com",), "example.com"),
                     id="default port dropped, lower case"),
        pytest.param("https", "app.example.com:8443", None, (), (("https://app.example.com:8443",),
                                                                 "app.example.com"), id="other port kept"),
        pytest.param("http", "localhost:8000", None, (), (("http://localhost:8000",), "localhost"),
                     id="http on localhost"),
        pytest.param("http", "demo.localhost", None, (), (("http://demo.localhost",), "demo.localhost"),
                     id="http on a .localhost name"),
        pytest.param("https", "app.example.com", "example.com", (), (("https://app.example.com",), "example.com"),
                     id="configured RP ID, a subdomain's request"),
        pytest.param("http", "10.0.0.5:8080", "example.com", ("https://example.com",),
                     (("https://example.com",), "example.com"), id="behind a proxy: configured values win"),
        pytest.param("http", "internal", None, ("https://www.example.com", "https://example.com:8443"),
                     (("https://www.example.com", "https://example.com:8443"), "www.example.com"),
                     id="configured origins, RP ID from the first"),
    ],
)
def test_origins_and_rp_id(
    scheme: str, host: str, rp_id: str | None, origins: tuple[str, ...], expected: tuple[tuple[str, ...], str]
) -> None:
    assert sk.expected_origin_and_rp_id(scheme, host, rp_id, origins) == expected


@pytest.mark.parametrize(
    "scheme, host, rp_id",
    [
        pytest.param("http", "example.com", None, id="plain http on the internet"),
        pytest.param("https", "127.0.0.1:8000", None, id="an IPv4 address"),
        pytest.param("https", "[::1]:8000", None, id="an IPv6 address"),
        pytest.param("https", "example.com/path", None, id="a path in Host"),
        pytest.param("https", "user@example.com", None, id="credentials in Host"),
        pytest.param("https", "", None, id="no Host"),
        pytest.param("https", "evil.example", "example.com", id="a host outside the configured RP ID"),
        pytest.param("https", "notexample.com", "example.com", id="a suffix that is not a subdomain"),
    ],
)
def test_a_request_security_keys_cannot_work_from_is_refused(scheme: str, host: str, rp_id: str | None) -> None:
    with pytest.raises(InvalidSecurityKey):
        sk.expected_origin_and_rp_id(scheme, host, rp_id)


@pytest.mark.parametrize(
    "rp_id, origins",
    [
        pytest.param("Example.com", (), id="RP ID in upper case"),
        pytest.param("example.com:443", (), id="RP ID with a port"),
        pytest.param("192.168.0.1", (), id="RP ID an IP"),
        pytest.param(None, ("https://example.com/",), id="origin with a path"),
        pytest.param(None, ("https://example.com:443",), id="origin with the default port"),
        pytest.param(None, ("https://example.com:",), id="origin with an empty port"),
        pytest.param(None, ("http://example.com",), id="plain http origin"),
        pytest.param(None, ("https://a.example.com", "https://other.org"), id="two hosts, no RP ID"),
        pytest.param("example.com", ("https://example.org",), id="origin outside the RP ID"),
    ],
)
def test_bad_configuration_is_refused_at_start_up(rp_id: str | None, origins: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match=r"."):
        sk.check_config(rp_id, origins)


def test_good_configuration_passes() -> None:
    sk.check_config("example.com", ("https://example.com", "https://app.example.com:8443"))
    sk.check_config(None, ())
    sk.check_config("localhost", ("http://localhost:8000",))

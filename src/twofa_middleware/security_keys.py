"""Security keys and passkeys (WebAuthn) as a second factor, over py_webauthn.

Pure: no HTTP, no store; the time is passed in. The web layer calls it in two
steps per ceremony (register a key, or sign in with one):

*begin*: :func:`registration_options` or :func:`authentication_options` give the
JSON the browser passes to ``navigator.credentials.create/get`` (answer it as
``{"publicKey": options}``) and a fresh 32-byte challenge. :func:`new_challenge_state`
turns the challenge into what the server keeps, a :class:`ChallengeState`:

    ``key``            SHA-256 of the challenge, hex: the lookup key (never the challenge)
    ``user_id``        whose ceremony it is
    ``session_hash``   SHA-256 of the sign-in's ``Identity.session_key``, hex
    ``purpose``        ``"register"`` or ``"authenticate"``
    ``expires_at``     seconds since the epoch (``ttl`` after begin)

The store must keep it server-side (a table shared by every instance, not a
cookie) so that single use holds across processes.

*finish*: :func:`parse_registration_response` / :func:`parse_authentication_response`
check the browser's JSON (bounded sizes, strict base64url) and read the challenge
it signed. The store then **consumes** the state under ``challenge_key(challenge)``
atomically (``DELETE ... WHERE key = ? RETURNING ...``, or a row lock and a delete in
one transaction), *before* anything is verified, so a refused try also burns
the challenge and two concurrent finishes cannot both get it. The consumed state
(or ``None``) goes to :func:`verify_registration` / :func:`verify_authentication`,
which check it in constant time (user, session, purpose, expiry) before the
signature. Expired states can be swept by ``expires_at`` at any time.

User handle: :func:`user_handle` is a keyed hash of the user id (HMAC under the
app's secret key), 32 bytes. It is stable per user (re-registering on the same
authenticator replaces its entry instead of piling up), needs no storage, and
tells an authenticator, or anyone reading it, nothing about the user id, which
may be an email address. After a key rotation new keys get the new handle;
:func:`user_handles` lists the handle under every key, for checking a response.

Origins and RP ID: :func:`expected_origin_and_rp_id`. The RP ID defaults to the
request's host name; behind a proxy (TLS ended elsewhere, another Host) set the
RP ID and the public origins explicitly.

The signature counter: a key that signs with a counter not above the stored one
(when either is non-zero) is a copy; that raises :class:`SecurityKeyCloned`. The
store must write the new counter only if it is still above the stored one, in the
same transaction, so two concurrent sign-ins with one counter value cannot both pass.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
import re
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from .crypto import KeyRing
from .errors import InvalidRequest, InvalidSecurityKey, SecurityKeyCloned
from .i18n import N_, Text
from .inputs import text

CHALLENGE_BYTES = 32
CHALLENGE_SECONDS = 300
MAX_RESPONSE_BYTES = 32 * 1024  # a serialized response; TPM attestations run to a few KiB
MAX_NAME = 64
USER_HANDLE_PURPOSE = "twofa.webauthn.user-handle"

# Decoded sizes (bytes) each field of a browser's response may have.
_MAX_CREDENTIAL_ID = 1023  # WebAuthn: credential ids are at most 1023 bytes
_MAX_CLIENT_DATA = 4096
_MAX_ATTESTATION = 24 * 1024
_MAX_AUTHENTICATOR_DATA = 4096
_MAX_SIGNATURE = 1024  # RSA-4096 is 512 bytes
_MAX_USER_HANDLE = 64  # WebAuthn: user.id is at most 64 bytes
_MAX_TRANSPORTS = 8
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class Purpose(StrEnum):
    REGISTER = "register"
    AUTHENTICATE = "authenticate"


_CLIENT_DATA_TYPE = {Purpose.REGISTER: "webauthn.create", Purpose.AUTHENTICATE: "webauthn.get"}


@dataclass(frozen=True)
class CredentialRef:
    """A credential the user already has, as options name it (exclude or allow)."""

    credential_id: bytes
    transports: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredCredential:
    """What the store keeps of a credential and gives back to verify a sign-in."""

    credential_id: bytes
    public_key: bytes
    sign_count: int


@dataclass(frozen=True)
class NewCredential:
    """A verified registration: store all of it with the name the user gave.

    :param aaguid: the authenticator model's id (all zeros under attestation "none"
        for many keys): informative only, never trusted.
    :param backed_up: a synced passkey (``device_type == "multi_device"``) rather
        than a key bound to one device.
    """

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    device_type: str
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True)
class ChallengeState:
    """What the server keeps between begin and finish; see the module docstring."""

    key: str
    user_id: str
    session_hash: str
    purpose: Purpose
    expires_at: float


@dataclass(frozen=True)
class Ceremony:
    """A begin step's result: ``options`` for the browser, ``challenge`` to make the state from."""

    options: dict[str, Any]
    challenge: bytes


@dataclass(frozen=True)
class RegistrationResponse:
    """A browser's answer to ``credentials.create``, checked for shape, not yet verified."""

    challenge: bytes
    credential_id: bytes
    transports: tuple[str, ...]
    credential: dict[str, Any]


@dataclass(frozen=True)
class AuthenticationResponse:
    """A browser's answer to ``credentials.get``, checked for shape, not yet verified."""

    challenge: bytes
    credential_id: bytes
    user_handle: bytes | None
    credential: dict[str, Any]


# -- encoding -------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Unpadded base64url, as WebAuthn's JSON spells bytes."""
    return urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def from_b64url(value: object, max_bytes: int) -> bytes:
    """Strict unpadded base64url of at most ``max_bytes``; else :class:`InvalidSecurityKey`.

    Python's decoder skips characters outside the alphabet; checking first means
    what is verified is exactly what was sent."""
    if not isinstance(value, str) or len(value) > (max_bytes * 4 + 2) // 3 or not _B64URL.fullmatch(value):
        raise InvalidSecurityKey("malformed")
    if len(value) % 4 == 1 or not value:
        raise InvalidSecurityKey("malformed")
    try:
        return urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecurityKey("malformed") from exc


def challenge_key(challenge: bytes) -> str:
    """The store's lookup key for a challenge: its SHA-256, hex."""
    return hashlib.sha256(challenge).hexdigest()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


# -- user handles and names --------------------------------------------------------------


def user_handle(keys: KeyRing, user_id: str) -> bytes:
    """The WebAuthn user handle for ``user_id``: 32 bytes, keyed, under the newest key."""
    return bytes.fromhex(keys.mac(USER_HANDLE_PURPOSE, user_id))


def user_handles(keys: KeyRing, user_id: str) -> tuple[bytes, ...]:
    """The user's handle under every key of the ring, to accept keys registered before a rotation."""
    return tuple(bytes.fromhex(mac) for mac in keys.macs(USER_HANDLE_PURPOSE, user_id))


def parse_name(value: object) -> str:
    """The name a user gives a key ("YubiKey on my keyring"): clean text, 1 to 64 characters."""
    message = Text(N_("Name the security key (at most %(max)s characters)."), {"max": MAX_NAME})
    name = text(value, message, max_length=MAX_NAME).strip()
    if not name:
        raise InvalidRequest(message)
    return name


# -- origins and RP ID -----------------------------------------------------------------


def check_rp_id(rp_id: str) -> str:
    """``rp_id`` if it is a domain name WebAuthn accepts (lower case, no port, not an IP); else ValueError."""
    labels = rp_id.split(".")
    if (
        len(rp_id) > 253
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # an IPv4 address: browsers refuse IPs as RP IDs
    ):
        raise ValueError(f"not a valid WebAuthn RP ID (a lower-case domain name): {rp_id!r}")
    return rp_id


def _is_local(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _origin_host(origin: str) -> str:
    parts = urlsplit(origin)
    return (parts.hostname or "").lower()


def check_origin(origin: str) -> str:
    """``origin`` if it is what a browser writes in clientDataJSON (``https://host[:port]``,
    or ``http://localhost[:port]``, no path, default port left out); else ValueError."""
    parts = urlsplit(origin)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid origin: {origin!r}") from exc
    ok = (
        parts.scheme in ("https", "http")
        and (parts.scheme == "https" or _is_local(host))
        and not parts.path and not parts.query and not parts.fragment and not parts.username
        and not parts.netloc.endswith(":")
        and origin == origin.lower()
        and port != {"https": 443, "http": 80}[parts.scheme]
    )
    if not ok:
        raise ValueError(
            f"not a valid WebAuthn origin (https://host[:port], or http://localhost[:port]): {origin!r}"
        )
    check_rp_id(host)
    return origin


def _within(host: str, rp_id: str) -> bool:
    return host == rp_id or host.endswith("." + rp_id)


def check_config(rp_id: str | None, origins: Sequence[str]) -> None:
    """Validate configured values once, at start-up (for ``Settings``): ValueError with the reason."""
    for origin in origins:
        check_origin(origin)
    if rp_id is not None:
        check_rp_id(rp_id)
        for origin in origins:
            if not _within(_origin_host(origin), rp_id):
                raise ValueError(f"origin {origin!r} is not within the RP ID {rp_id!r}")
    elif origins and not all(_within(_origin_host(o), _origin_host(origins[0])) for o in origins):
        raise ValueError("origins on different hosts need an explicit RP ID")


def expected_origin_and_rp_id(
    scheme: str, host: str, configured_rp_id: str | None = None, configured_origins: Sequence[str] = ()
) -> tuple[tuple[str, ...], str]:
    """The origins a response may come from, and the RP ID, for one request.

    :param scheme: the request's URL scheme (``wsgi.url_scheme``).
    :param host: the request's ``Host`` (``HTTP_HOST``, with its port if any).
    :param configured_rp_id: fixes the RP ID (say ``example.com`` for keys that work on
        every subdomain); the request's host must then be within it.
    :param configured_origins: the public origins, for an app behind a proxy or TLS
        terminator, where the scheme and Host the app sees are not the browser's.
        The request's own scheme and Host are then ignored.

    Without configuration both come from the request: ``https://host``, or
    ``http://localhost:PORT`` (browsers allow WebAuthn there); plain http elsewhere
    and IP addresses are refused (browsers refuse them too). Deriving from ``Host``
    is safe against phishing only because a key signs for the RP ID it was
    registered under; an app that is reachable under hosts it does not own should
    configure both values.
    """
    if configured_origins:
        rp_id = configured_rp_id or _origin_host(configured_origins[0])
        return tuple(configured_origins), rp_id
    try:
        origin = check_origin(f"{scheme}://{host}".lower().removesuffix(":443" if scheme == "https" else ":80"))
    except ValueError as exc:
        raise InvalidSecurityKey(
            "origin", N_("Security keys need this site to be opened over HTTPS, at its domain name.")
        ) from exc
    request_host = _origin_host(origin)
    rp_id = configured_rp_id or request_host
    if not _within(request_host, rp_id):
        raise InvalidSecurityKey("rp_id")
    return (origin,), rp_id


# -- challenges -------------------------------------------------------------------------


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def new_challenge_state(
    challenge: bytes, *, user_id: str, session_key: str, purpose: Purpose, now: float,
    ttl: float = CHALLENGE_SECONDS,
) -> ChallengeState:
    """What to store for ``challenge``, bound to this user, this sign-in and this ceremony."""
    if not user_id or not session_key:
        raise ValueError("a challenge needs a user and a sign-in key")  # an empty key never verifies
    return ChallengeState(
        key=challenge_key(challenge), user_id=user_id, session_hash=_digest(session_key),
        purpose=purpose, expires_at=now + ttl,
    )


def check_challenge_state(
    state: ChallengeState | None, *, challenge: bytes, user_id: str, session_key: str, purpose: Purpose,
    now: float,
) -> None:
    """:class:`InvalidSecurityKey` unless ``state`` (as consumed from the store; ``None``
    when there was none: never issued, already used, swept) is this challenge's, for this
    user, sign-in and purpose, and still live. Every comparison is constant-time."""
    if state is None:
        raise InvalidSecurityKey("challenge")
    if not session_key:
        raise InvalidSecurityKey("wrong_session")
    checks = (
        ("challenge", hmac.compare_digest(state.key, challenge_key(challenge))),
        ("wrong_user", hmac.compare_digest(_digest(state.user_id), _digest(user_id))),
        ("wrong_session", hmac.compare_digest(state.session_hash, _digest(session_key))),
        ("wrong_purpose", state.purpose == purpose),
    )
    for reason, ok in checks:
        if not ok:
            raise InvalidSecurityKey(reason)
    if not now < state.expires_at:
        raise InvalidSecurityKey("expired", N_("The security key request has expired. Try again."))


# -- options ------------------------------------------------------------------------------


def _descriptors(refs: Sequence[CredentialRef]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=ref.credential_id,
            transports=[AuthenticatorTransport(t) for t in ref.transports if t in _TRANSPORTS] or None,
        )
        for ref in refs
    ]


def registration_options(
    *, rp_id: str, rp_name: str, user_handle: bytes, user_name: str, display_name: str | None = None,
    existing: Sequence[CredentialRef] = (), timeout_seconds: int = CHALLENGE_SECONDS,
) -> Ceremony:
    """Options for ``navigator.credentials.create``: attestation "none" (no vendor data is
    collected or trusted), user verification and resident key "preferred" (a passkey where
    the authenticator can), the user's keys excluded so one key is not registered twice."""
    challenge = new_challenge()
    options = generate_registration_options(
        rp_id=rp_id, rp_name=rp_name, user_id=user_handle, user_name=user_name,
        user_display_name=display_name or user_name, challenge=challenge, timeout=timeout_seconds * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(existing),
    )
    return Ceremony(options_to_json_dict(options), challenge)


def authentication_options(
    *, rp_id: str, allowed: Sequence[CredentialRef], timeout_seconds: int = CHALLENGE_SECONDS
) -> Ceremony:
    """Options for ``navigator.credentials.get`` naming the user's keys (a second factor:
    the user is known, so the browser is told which keys may answer)."""
    challenge = new_challenge()
    options = generate_authentication_options(
        rp_id=rp_id, challenge=challenge, timeout=timeout_seconds * 1000,
        allow_credentials=_descriptors(allowed), user_verification=UserVerificationRequirement.PREFERRED,
    )
    return Ceremony(options_to_json_dict(options), challenge)


# -- parsing the browser's responses ---------------------------------------------------------


def _object(raw: object) -> Mapping[str, Any]:
    """The response as a JSON object, bounded in size whether it came as text or parsed."""
    if isinstance(raw, bytes | str):
        if len(raw) > MAX_RESPONSE_BYTES:
            raise InvalidSecurityKey("malformed")
        try:
            raw = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise InvalidSecurityKey("malformed") from exc
    if not isinstance(raw, Mapping):
        raise InvalidSecurityKey("malformed")
    try:
        size = len(json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidSecurityKey("malformed") from exc
    if size > MAX_RESPONSE_BYTES:
        raise InvalidSecurityKey("malformed")
    return raw


def _common(raw: object, purpose: Purpose) -> tuple[Mapping[str, Any], Mapping[str, Any], bytes, str, bytes]:
    """The checks both responses share: ids, type, clientDataJSON and the challenge in it."""
    body = _object(raw)
    response = body.get("response")
    if not isinstance(response, Mapping) or body.get("type") != "public-key":
        raise InvalidSecurityKey("malformed")
    credential_id = from_b64url(body.get("rawId"), _MAX_CREDENTIAL_ID)
    if body.get("id") != b64url(credential_id):
        raise InvalidSecurityKey("malformed")
    client_data_b64 = response.get("clientDataJSON")
    client_data_raw = from_b64url(client_data_b64, _MAX_CLIENT_DATA)
    try:
        client_data = json.loads(client_data_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidSecurityKey("malformed") from exc
    if not isinstance(client_data, dict) or client_data.get("type") != _CLIENT_DATA_TYPE[purpose]:
        raise InvalidSecurityKey("malformed")
    if client_data.get("crossOrigin") not in (None, False):
        raise InvalidSecurityKey("origin")  # asked from inside another site's frame
    challenge = from_b64url(client_data.get("challenge"), CHALLENGE_BYTES)
    if len(challenge) != CHALLENGE_BYTES:
        raise InvalidSecurityKey("challenge")
    return body, response, credential_id, str(client_data_b64), challenge


def _attachment(body: Mapping[str, Any]) -> str | None:
    value = body.get("authenticatorAttachment")
    if value is None:
        return None
    if value not in ("platform", "cross-platform"):
        raise InvalidSecurityKey("malformed")
    return str(value)


def parse_registration_response(raw: object) -> RegistrationResponse:
    """The browser's ``credentials.create`` result as JSON (text or parsed), checked for
    shape and size: :class:`InvalidSecurityKey` (``malformed``) for anything else."""
    body, response, credential_id, client_data, challenge = _common(raw, Purpose.REGISTER)
    attestation = response.get("attestationObject")
    from_b64url(attestation, _MAX_ATTESTATION)
    transports_raw = response.get("transports", [])
    if not isinstance(transports_raw, list) or len(transports_raw) > _MAX_TRANSPORTS:
        raise InvalidSecurityKey("malformed")
    # Unknown transport names are dropped, not refused: browsers add new ones.
    transports = tuple(sorted({t for t in transports_raw if isinstance(t, str) and t in _TRANSPORTS}))
    credential = {
        "id": b64url(credential_id), "rawId": b64url(credential_id), "type": "public-key",
        "response": {"clientDataJSON": client_data, "attestationObject": attestation, "transports": list(transports)},
        "authenticatorAttachment": _attachment(body),
    }
    return RegistrationResponse(challenge, credential_id, transports, credential)


def parse_authentication_response(raw: object) -> AuthenticationResponse:
    """The browser's ``credentials.get`` result as JSON (text or parsed), checked for
    shape and size: :class:`InvalidSecurityKey` (``malformed``) for anything else."""
    body, response, credential_id, client_data, challenge = _common(raw, Purpose.AUTHENTICATE)
    authenticator_data = response.get("authenticatorData")
    signature = response.get("signature")
    from_b64url(authenticator_data, _MAX_AUTHENTICATOR_DATA)
    from_b64url(signature, _MAX_SIGNATURE)
    handle_raw = response.get("userHandle")
    handle = None if handle_raw in (None, "") else from_b64url(handle_raw, _MAX_USER_HANDLE)
    credential = {
        "id": b64url(credential_id), "rawId": b64url(credential_id), "type": "public-key",
        "response": {
            "clientDataJSON": client_data, "authenticatorData": authenticator_data, "signature": signature,
            "userHandle": None if handle is None else b64url(handle),
        },
        "authenticatorAttachment": _attachment(body),
    }
    return AuthenticationResponse(challenge, credential_id, handle, credential)


# -- verifying ---------------------------------------------------------------------------------


def verify_registration(
    response: RegistrationResponse, state: ChallengeState | None, *, user_id: str, session_key: str,
    now: float, rp_id: str, origins: Sequence[str],
) -> NewCredential:
    """The new credential, once the consumed ``state`` matches and the response verifies
    for ``rp_id`` from one of ``origins``; else :class:`InvalidSecurityKey`."""
    check_challenge_state(
        state, challenge=response.challenge, user_id=user_id, session_key=session_key,
        purpose=Purpose.REGISTER, now=now,
    )
    try:
        verified = verify_registration_response(
            credential=response.credential, expected_challenge=response.challenge,
            expected_rp_id=rp_id, expected_origin=list(origins),
        )
    # py_webauthn raises its own errors, and on hostile CBOR or keys also ValueError,
    # KeyError, TypeError...: every one of them is a refused key, never a 500.
    except Exception as exc:
        raise InvalidSecurityKey("not_verified") from exc
    if not hmac.compare_digest(verified.credential_id, response.credential_id):
        raise InvalidSecurityKey("malformed")  # the id the browser named is not the one the key attested
    return NewCredential(
        credential_id=verified.credential_id, public_key=verified.credential_public_key,
        sign_count=verified.sign_count, transports=response.transports, aaguid=verified.aaguid,
        device_type=verified.credential_device_type.value, backed_up=verified.credential_backed_up,
        user_verified=verified.user_verified,
    )


def verify_authentication(
    response: AuthenticationResponse, state: ChallengeState | None, *, credential: StoredCredential | None,
    user_id: str, session_key: str, now: float, rp_id: str, origins: Sequence[str],
    user_handles: Collection[bytes],
) -> int:
    """The credential's new signature counter, once the consumed ``state`` matches, the
    response is signed by ``credential`` (the user's key with ``response.credential_id``,
    or ``None`` when the user has none by that id) and, when it carries a user handle,
    that handle is one of ``user_handles``. A counter that did not go up raises
    :class:`SecurityKeyCloned`; anything else wrong, :class:`InvalidSecurityKey`."""
    check_challenge_state(
        state, challenge=response.challenge, user_id=user_id, session_key=session_key,
        purpose=Purpose.AUTHENTICATE, now=now,
    )
    if credential is None or not hmac.compare_digest(credential.credential_id, response.credential_id):
        raise InvalidSecurityKey("unknown_credential")
    handle = response.user_handle
    if handle is not None and not any(hmac.compare_digest(handle, h) for h in user_handles):
        raise InvalidSecurityKey("user_handle")
    try:
        # Counter 0 here: the library's own counter check would raise a plain error;
        # ours, below, runs only on a valid signature, so only the key itself can
        # prove it was copied.
        verified = verify_authentication_response(
            credential=response.credential, expected_challenge=response.challenge, expected_rp_id=rp_id,
            expected_origin=list(origins), credential_public_key=credential.public_key,
            credential_current_sign_count=0,
        )
    except Exception as exc:  # as in verify_registration: any failure is a refusal
        raise InvalidSecurityKey("not_verified") from exc
    received = verified.new_sign_count
    if (received or credential.sign_count) and received <= credential.sign_count:
        raise SecurityKeyCloned(stored=credential.sign_count, received=received)
    return received

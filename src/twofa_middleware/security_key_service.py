"""The security-key (WebAuthn) steps: register a key, sign in with one.

Each ceremony is begin (options for the browser, and a challenge state kept on
the user's row: one ceremony under way per user) then finish. Finish takes and
clears that state under the row lock before anything is verified, so a
challenge is spent once, even by a refused try. A sign-in's finish runs inside
``store.attempt``: a refused key counts toward the lockout like a wrong code, a
locked user is refused before the key is looked at, and the new signature
counter is written in the same transaction that checked it.

Nothing here knows about HTTP: the web layer passes the RP ID and the origins
(:func:`security_keys.expected_origin_and_rp_id`) and the sign-in's session key.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from . import security_keys as sk
from .errors import InvalidSecurityKey, NotEnabled, SecurityKeyCloned, Throttled, TwoFactorError
from .i18n import N_
from .store.base import AuthenticatorRecord, LockedFactor, LockedUser, NewAuthenticator

if TYPE_CHECKING:
    from .service import Added, TwoFactorService

KIND = "webauthn"
_MAX_PUBLIC_KEY = 16 * 1024


def _dump(state: sk.ChallengeState) -> str:
    return json.dumps({
        "key": state.key, "user_id": state.user_id, "session_hash": state.session_hash,
        "purpose": state.purpose.value, "expires_at": state.expires_at,
    })


def _load(value: str | None) -> sk.ChallengeState | None:
    """The kept state, or None (none kept, expired, or not ours to read: never trusted blindly)."""
    if value is None:
        return None
    try:
        raw = json.loads(value)
        return sk.ChallengeState(
            key=str(raw["key"]), user_id=str(raw["user_id"]), session_hash=str(raw["session_hash"]),
            purpose=sk.Purpose(raw["purpose"]), expires_at=float(raw["expires_at"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _refs(keys: list[AuthenticatorRecord]) -> list[sk.CredentialRef]:
    return [
        sk.CredentialRef(sk.from_b64url(a.credential_id, 1023), a.transports) for a in keys if a.credential_id
    ]


class SecurityKeySteps:
    """The four steps, over one :class:`TwoFactorService` (its store, keys, clock, log)."""

    def __init__(self, service: TwoFactorService) -> None:
        self.service = service

    def keys(self, user_id: str) -> list[AuthenticatorRecord]:
        return [a for a in self.service.authenticators(user_id) if a.kind == KIND]

    def _keep(self, challenge: bytes, user_id: str, session_key: str, purpose: sk.Purpose) -> None:
        service = self.service
        if not session_key:  # nothing to bind the ceremony to; such a sign-in is never verified anyway
            raise InvalidSecurityKey(
                "no_session", N_("Security keys need the application's sign-in session. Sign in again.")
            )
        state = sk.new_challenge_state(
            challenge, user_id=user_id, session_key=session_key, purpose=purpose, now=service.clock(),
            ttl=service.settings.webauthn_challenge_seconds,
        )
        service.store.begin_challenge(user_id, _dump(state), state.expires_at)

    # -- registration --------------------------------------------------------------

    def register_begin(self, user_id: str, session_key: str, rp_id: str) -> dict[str, Any]:
        """Options for ``navigator.credentials.create``; the user's keys are excluded."""
        service = self.service
        service.check_room(user_id)  # a full list: no ceremony begins
        label = service.settings.label(user_id)
        ceremony = sk.registration_options(
            rp_id=rp_id, rp_name=service.settings.issuer, user_handle=sk.user_handle(service.keyring, user_id),
            user_name=label, display_name=label, existing=_refs(self.keys(user_id)),
            timeout_seconds=service.settings.webauthn_challenge_seconds,
        )
        self._keep(ceremony.challenge, user_id, session_key, sk.Purpose.REGISTER)
        return ceremony.options

    def register_finish(
        self, user_id: str, session_key: str, raw_credential: object, raw_name: object, *,
        rp_id: str, origins: tuple[str, ...], ip: str | None = None, epoch: int | None = None,
    ) -> tuple[str, Added]:
        """Store the verified key: ``(its name, what adding it did)``: the recovery codes and
        the tokens revoked when it is the first factor."""
        service = self.service
        name = sk.parse_name(raw_name)
        service.check_room(user_id)  # before the challenge is spent (the store checks again as it adds)
        # Not a credential at all: a 400 that spends nothing, as a malformed code is.
        response = sk.parse_registration_response(raw_credential)
        now = service.clock()
        # Taken before the response is verified: a refused try spends the challenge too.
        state = _load(service.store.take_challenge(user_id, now))
        try:
            new = sk.verify_registration(
                response, state, user_id=user_id, session_key=session_key, now=now, rp_id=rp_id, origins=origins
            )
        except InvalidSecurityKey as exc:
            service._event(user_id, "webauthn_add_failed", exc.reason, ip)
            raise
        credential_id = sk.b64url(new.credential_id)
        if service.store.credential_registered(credential_id):
            raise InvalidSecurityKey("registered", N_("This security key is already registered."))
        added = service._add(
            user_id,
            NewAuthenticator(
                KIND, name, credential_id=credential_id, public_key=sk.b64url(new.public_key),
                sign_count=new.sign_count, transports=new.transports,
            ),
            0,
            ip,
            epoch=epoch,
        )
        return name, added

    # -- sign-in -----------------------------------------------------------------------

    def authenticate_begin(self, user_id: str, session_key: str, rp_id: str) -> dict[str, Any]:
        """Options for ``navigator.credentials.get`` naming the user's keys; refused while locked."""
        retry = self.service.retry_after(user_id)
        if retry:
            raise Throttled(retry)
        keys = self.keys(user_id)
        if not keys:
            raise NotEnabled(N_("This account has no security key."))
        ceremony = sk.authentication_options(
            rp_id=rp_id, allowed=_refs(keys), timeout_seconds=self.service.settings.webauthn_challenge_seconds
        )
        self._keep(ceremony.challenge, user_id, session_key, sk.Purpose.AUTHENTICATE)
        return ceremony.options

    def authenticate_finish(
        self, user_id: str, session_key: str, raw_credential: object, *,
        rp_id: str, origins: tuple[str, ...], ip: str | None = None,
    ) -> str:
        """Pass the second factor with one of the user's keys; returns ``"webauthn"``."""
        service = self.service
        now = service.clock()
        handles = sk.user_handles(service.keyring, user_id)
        used: list[LockedFactor] = []
        # Not a credential at all: a 400 that counts no failure and spends no challenge,
        # as a malformed code is; only a well-formed answer is judged under the lock.
        response = sk.parse_authentication_response(raw_credential)

        def check(row: LockedUser) -> int:
            state = _load(row.take_challenge(now))  # spent whatever follows
            wanted = sk.b64url(response.credential_id)
            # Only this user's keys: a key of someone else's is unknown here.
            factor = next(
                (f for f in row.factors if f.kind == KIND and f.credential_id and f.public_key
                 and hmac.compare_digest(f.credential_id, wanted)),
                None,
            )
            stored = None
            if factor is not None:
                used.append(factor)
                stored = sk.StoredCredential(
                    response.credential_id, sk.from_b64url(factor.public_key, _MAX_PUBLIC_KEY), factor.sign_count
                )
            count = sk.verify_authentication(
                response, state, credential=stored, user_id=user_id, session_key=session_key, now=now,
                rp_id=rp_id, origins=origins, user_handles=handles,
            )
            assert factor is not None  # noqa: S101 - verify_authentication refuses an unknown key
            row.used(factor.id, now, count)
            return row.last_step

        def log(refused: TwoFactorError | None) -> list[tuple[str, str]]:
            """The outcome's log rows, written in the attempt's transaction."""
            if refused is None:
                return [("verified", KIND)]
            events = []
            if isinstance(refused, SecurityKeyCloned):
                factor_id = used[0].id if used else 0
                events.append(("webauthn_cloned", f"{factor_id} stored={refused.stored} received={refused.received}"))
            reason = getattr(refused, "reason", refused.code)
            return events + service._refusal_events(f"webauthn {reason}", refused)

        try:
            service.store.attempt(user_id, now, check, service._lock_seconds, log, ip)
        except TwoFactorError as exc:
            service._changed(user_id, everywhere=service.locked_now(exc))
            if exc.attempt is not None:  # counted and logged in the attempt's transaction (else nothing was judged)
                for event, _detail in log(exc):
                    service._announce(user_id, event)
            raise
        service._changed(user_id, everywhere=False)  # a signature count is in no cache
        service._announce(user_id, "verified")
        return KIND

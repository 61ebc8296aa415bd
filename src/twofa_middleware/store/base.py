"""What the rest of the package needs from a store, and the records it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from ..invalidation import ChangeFeed

from ..errors import TwoFactorError


@dataclass(frozen=True, slots=True)
class UserState:
    """A user's 2FA state, small enough to cache per process.

    :param kinds: the kinds of the user's authenticators (``"totp"``, ``"webauthn"``),
        each once, so the verify page knows what to offer.
    """

    enabled: bool
    epoch: int = 0
    recovery_codes_left: int = 0
    locked_until: float | None = None
    kinds: frozenset[str] = frozenset()


DISABLED = UserState(enabled=False)

# What a factor is called when the user names it nothing.
DEFAULT_NAMES = {"totp": "Authenticator app", "webauthn": "Security key"}


@dataclass(frozen=True, slots=True)
class NewAuthenticator:
    """A factor about to be stored: a TOTP ``secret`` (encrypted), or a WebAuthn credential."""

    kind: str
    name: str
    secret: str | None = None
    credential_id: str | None = None  # base64url
    public_key: str | None = None  # base64url
    sign_count: int = 0
    transports: tuple[str, ...] = ()


class AddedFactor(NamedTuple):
    """What storing a factor did: its id, whether it was the first (2FA turned on), and
    how many live tokens that revoked (any token of a user without a second factor may
    have been made with the password alone: it must not outlive turning 2FA on)."""

    id: int
    first: bool
    tokens_revoked: int = 0


@dataclass(frozen=True, slots=True)
class AuthenticatorRecord:
    """One of a user's factors as it may be shown or used: never the TOTP secret."""

    id: int
    kind: str
    name: str
    created_at: float
    last_used_at: float | None
    credential_id: str | None = None
    public_key: str | None = None
    sign_count: int = 0
    transports: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    user_id: str
    name: str
    prefix: str
    paths: tuple[str, ...]
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class TrustedBrowserRecord:
    """A remembered browser: it spares its user the code at sign-in while live.

    ``secret_hash`` is the SHA-256 of the random secret in the browser's cookie
    (the secret itself is never stored); ``epoch`` is the user's 2FA epoch when
    it was trusted, so turning 2FA off or setting it up anew ends the trust.
    """

    id: int
    user_id: str
    secret_hash: str
    label: str
    ip: str | None
    created_at: float
    last_used_at: float | None
    expires_at: float
    epoch: int
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    user_id: str
    event: str
    detail: str
    remote_addr: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What a verification attempt did to the user's failure count."""

    failures: int
    locked_until: float | None


@dataclass(frozen=True, slots=True)
class LockedFactor:
    """One authenticator as a verification sees it: ``secret`` is the encrypted TOTP secret."""

    id: int
    kind: str
    secret: str | None
    credential_id: str | None
    public_key: str | None
    sign_count: int


@dataclass(frozen=True, slots=True)
class ResetCounts:
    """What an operator's reset took away beside 2FA itself (one count per kind of credential)."""

    tokens_revoked: int
    browsers_revoked: int = 0


class LockedUser(Protocol):
    """A user row held under a lock for the length of one verification.

    ``factors`` are the user's authenticators; while a setup is confirmed, the
    pending secret alone (with id 0, not stored yet).
    """

    user_id: str
    last_step: int
    factors: tuple[LockedFactor, ...]

    def consume_recovery_code(self, code_hashes: list[str], now: float) -> bool:
        """Mark the unused code with one of these hashes used; False if there is none."""
        ...

    def used(self, factor_id: int, now: float, sign_count: int | None = None) -> None:
        """Stamp the factor that passed (and a security key's new signature counter)."""
        ...

    def take_challenge(self, now: float) -> str | None:
        """The security-key ceremony's state, cleared in this transaction (spent even
        when the check then refuses); None when there is none or it has expired."""
        ...


Check = Callable[[LockedUser], int]

# The security-log rows ``(event, detail)`` of an attempt's outcome: called in the
# attempt's transaction with the refusal (its ``attempt`` set), or None when it passed.
AttemptLog = Callable[[TwoFactorError | None], list[tuple[str, str]]]


class Store(Protocol):
    """The persistence the middleware needs. Every method is one transaction."""

    def user_state(self, user_id: str) -> UserState: ...
    def pending_secret(self, user_id: str, not_before: float) -> str | None: ...
    def set_pending_secret(self, user_id: str, secret: str, now: float) -> None: ...
    def enable(
        self, user_id: str, secret: str, step: int, codes: list[tuple[str, str]], now: float
    ) -> None: ...
    def add_authenticator(
        self, user_id: str, new: NewAuthenticator, step: int, codes: list[tuple[str, str]], now: float,
        *, pending: str | None = None, limit: int | None = None, remote_addr: str | None = None,
        epoch: int | None = None,
    ) -> AddedFactor: ...
    def authenticators(self, user_id: str) -> list[AuthenticatorRecord]: ...
    def totp_secrets(self, user_id: str) -> list[str]: ...
    def rename_authenticator(self, user_id: str, authenticator_id: int, name: str) -> bool: ...
    def remove_authenticator(self, user_id: str, authenticator_id: int) -> bool: ...
    def raise_last_step(self, user_id: str, step: int) -> None: ...
    def disable(self, user_id: str, now: float) -> bool: ...
    def attempt(
        self, user_id: str, now: float, check: Check, lock_seconds: Callable[[int], int],
        log: AttemptLog | None = None, remote_addr: str | None = None,
    ) -> AttemptResult: ...
    def attempt_enrollment(
        self, user_id: str, now: float, check: Check, lock_seconds: Callable[[int], int], started_after: float
    ) -> AttemptResult: ...
    def recovery_codes(self, user_id: str) -> list[tuple[str, bool]]: ...
    def replace_recovery_codes(self, user_id: str, codes: list[tuple[str, str]], now: float) -> None: ...
    def log(self, user_id: str, event: str, detail: str, remote_addr: str | None, now: float) -> None: ...
    def reserve_event(
        self, user_id: str, event: str, remote_addr: str | None, now: float, since: float, limit: int
    ) -> int | None: ...
    def forget_event(self, event_id: int) -> None: ...
    def begin_challenge(self, user_id: str, value: str, until: float) -> None: ...
    def take_challenge(self, user_id: str, now: float) -> str | None: ...
    def credential_registered(self, credential_id: str) -> bool: ...
    def event_times(self, user_id: str, event: str, since: float) -> list[float]: ...
    def events(self, user_id: str | None = None, limit: int = 100) -> list[EventRecord]: ...
    def add_token(
        self,
        user_id: str,
        name: str,
        prefix: str,
        token_hash: str,
        paths: tuple[str, ...],
        expires_at: float | None,
        now: float,
        *,
        epoch: int | None = None,
    ) -> int: ...
    def tokens(self, user_id: str) -> list[TokenRecord]: ...
    def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...
    def revoke_token(self, token_id: int, user_id: str | None, now: float) -> TokenRecord | None: ...
    def touch_token(self, token_id: int, now: float) -> None: ...
    def reset(self, user_id: str, now: float) -> ResetCounts | None: ...
    # Trusted browsers ("Remember this browser").
    def add_trusted_browser(
        self, user_id: str, secret_hash: str, label: str, ip: str | None, epoch: int, expires_at: float, now: float
    ) -> int: ...
    def trusted_browser(self, browser_id: int) -> TrustedBrowserRecord | None: ...
    def trusted_browsers(self, user_id: str, now: float) -> list[TrustedBrowserRecord]: ...
    def touch_trusted_browser(self, browser_id: int, ip: str | None, now: float) -> None: ...
    def revoke_trusted_browsers(self, user_id: str, browser_id: int | None, now: float) -> int: ...
    # Telling other instances of a change (PostgreSQL); None: they rely on cache_seconds.
    def change_feed(self) -> ChangeFeed | None: ...

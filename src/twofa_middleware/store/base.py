"""What the rest of the package needs from a store, and the records it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class UserState:
    """A user's 2FA state, small enough to cache per process."""

    enabled: bool
    epoch: int = 0
    recovery_codes_left: int = 0
    locked_until: float | None = None


DISABLED = UserState(enabled=False)


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


class LockedUser(Protocol):
    """A user row held under a lock for the length of one verification."""

    user_id: str
    secret: str  # encrypted
    last_step: int

    def consume_recovery_code(self, code_hashes: list[str], now: float) -> bool:
        """Mark the unused code with one of these hashes used; False if there is none."""
        ...


Check = Callable[[LockedUser], int]


class Store(Protocol):
    """The persistence the middleware needs. Every method is one transaction."""

    def user_state(self, user_id: str) -> UserState: ...
    def pending_secret(self, user_id: str, not_before: float) -> str | None: ...
    def set_pending_secret(self, user_id: str, secret: str, now: float) -> None: ...
    def enable(
        self, user_id: str, secret: str, step: int, codes: list[tuple[str, str]], now: float
    ) -> None: ...
    def disable(self, user_id: str, now: float) -> bool: ...
    def attempt(
        self, user_id: str, now: float, check: Check, lock_seconds: Callable[[int], int]
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
    ) -> int: ...
    def tokens(self, user_id: str) -> list[TokenRecord]: ...
    def token_by_hash(self, token_hash: str) -> TokenRecord | None: ...
    def revoke_token(self, token_id: int, user_id: str | None, now: float) -> TokenRecord | None: ...
    def touch_token(self, token_id: int, now: float) -> None: ...
    # Trusted browsers ("Remember this browser").
    def add_trusted_browser(
        self, user_id: str, secret_hash: str, label: str, ip: str | None, epoch: int, expires_at: float, now: float
    ) -> int: ...
    def trusted_browser(self, browser_id: int) -> TrustedBrowserRecord | None: ...
    def trusted_browsers(self, user_id: str, now: float) -> list[TrustedBrowserRecord]: ...
    def touch_trusted_browser(self, browser_id: int, ip: str | None, now: float) -> None: ...
    def revoke_trusted_browsers(self, user_id: str, browser_id: int | None, now: float) -> int: ...

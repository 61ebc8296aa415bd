"""Personal access tokens created, listed and revoked: the token steps that need no keys.

A token is stored as its SHA-256 hash, never encrypted or signed, so these steps
need only the settings and the store. :class:`~twofa_middleware.service.TwoFactorService`
serves its token steps through one; ``twofa tokens`` uses one directly, without
the app's secret key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from . import inputs, tokens
from .config import Settings
from .errors import InvalidRequest, NoSuchToken
from .i18n import N_
from .invalidation import announce, token_change
from .store.base import Store, TokenRecord

log = logging.getLogger("twofa_middleware")

DAY = 86400


def _log_event(user_id: str, event: str) -> None:
    log.info("twofa event=%s user=%s", event, user_id)


class TokenService:
    """Create, list and revoke a user's personal access tokens.

    :param clock: seconds since the epoch.
    :param announce: ``announce(user_id, event)``, called once an event is in the
        security log (by default, the process log only).
    :param forget: ``forget(token_id)``, called as a token is revoked and before
        that is announced, so a cache of tokens drops it first.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], float] = time.time,
        announce: Callable[[str, str], None] = _log_event,
        forget: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._announce = announce
        self._forget = forget

    def create_token(
        self,
        user_id: str,
        name: object,
        expires_in_days: object = 30,
        paths: object = None,
        ip: str | None = None,
        *,
        epoch: int | None = None,
    ) -> tuple[int, str]:
        """Mint a token; returns ``(id, token)``. The token is never retrievable again.

        ``epoch``: the user's 2FA epoch (:attr:`UserState.epoch`) the request was
        allowed under (verified, or no second factor to pass). The store refuses with
        TwoFactorChanged when 2FA was turned on or off since, so a token made with the
        password alone never commits after turning 2FA on revoked the user's tokens.
        None only where no 2FA state allowed it (an operator's ``twofa tokens create``).
        """
        name = inputs.name(name, N_("Give the token a name of up to 100 characters."))
        if (
            isinstance(expires_in_days, bool)
            or not isinstance(expires_in_days, int)
            or not 1 <= expires_in_days <= self.settings.max_token_days
        ):
            raise InvalidRequest(
                N_("Expiry must be between 1 and %(max_days)s days."), max_days=self.settings.max_token_days
            )
        prefixes = tokens.normalise_paths(paths)
        if prefixes is None:
            raise InvalidRequest(N_("Paths must be a list of local path prefixes such as /api."))
        token = tokens.mint()
        now = self.clock()
        token_id = self.store.add_token(
            user_id,
            name,
            tokens.display_prefix(token),
            tokens.hash_token(token),
            prefixes,
            now + expires_in_days * DAY,
            now,
            epoch=epoch,
        )
        self._event(user_id, "token_created", f"{token_id} {name}", ip)
        return token_id, token

    def list_tokens(self, user_id: str) -> list[TokenRecord]:
        return self.store.tokens(user_id)

    def live_count(self, user_id: str) -> int:
        """The user's tokens that still work (not revoked, not expired): what turning 2FA on revokes."""
        now = self.clock()
        return sum(1 for r in self.store.tokens(user_id) if r.expires_at is None or r.expires_at > now)

    def revoke_token(self, token_id: int, user_id: str | None, ip: str | None = None) -> TokenRecord:
        """Revoke now (``user_id`` None: whoever owns it). Raises NoSuchToken."""
        record = self.store.revoke_token(token_id, user_id, self.clock())
        if record is None:
            raise NoSuchToken()
        if self._forget is not None:
            self._forget(token_id)
        announce(self.store, self.settings, token_change(token_id))  # every other instance drops it too
        self._event(record.user_id, "token_revoked", f"{token_id} {record.name}", ip)
        return record

    def _event(self, user_id: str, event: str, detail: str, ip: str | None) -> None:
        self.store.log(user_id, event, detail, ip, self.clock())
        self._announce(user_id, event)

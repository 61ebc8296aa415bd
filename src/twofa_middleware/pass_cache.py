"""Pass decisions remembered, so that the steady state is one dict lookup: a browser's
by its raw ``Cookie`` header (:class:`PassCache`), a script's by its token's keyed
hash (:class:`TokenPasses`).

Most requests come from a browser whose cookies have not changed since its last
request, and whose answer was "pass": a signed-in user without 2FA, or one past
it. Only those answers are remembered, and only when ``identify`` depends on
the Cookie header alone. An entry

- never outlives ``cache_seconds``, the signed session it was read from, or the
  verified cookie it relied on;
- is used only while the user's state is still the one it was decided on: a
  write through this process drops the cached state at once, and so does
  another instance's when it is told (PostgreSQL, see invalidation.py); else
  it is seen when the state cache refreshes (``cache_seconds``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .cache import TTLCache
from .decision import Pass
from .errors import StoreUnavailable
from .identity import Identity, TwoFactorInfo
from .store.base import TokenRecord, UserState
from .tokens import LENGTH, cache_key

_Entry = tuple[str, UserState, TwoFactorInfo]

MAX_KEY = 2048  # characters of Cookie header worth remembering


class PassCache:
    """Remembered pass decisions for one middleware.

    :param ttl: the longest an entry lives (the settings' ``cache_seconds``).
    :param state: the service's cached ``state(user_id)``.
    :param maxsize: bound on entries; the oldest go first.
    :param clock: the middleware's clock (entries end by the same time the cookies do).
    """

    def __init__(
        self, ttl: float, state: Callable[[str], UserState], maxsize: int = 20_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache: TTLCache[str, _Entry] = TTLCache(ttl=ttl, maxsize=maxsize, clock=clock)
        self._state = state
        self._clock = clock

    def get(self, cookie: str) -> TwoFactorInfo | None:
        """What to put in ``environ["twofa"]`` for a request that passes, else None."""
        entry = self.cache.get(cookie)
        if entry is None:
            return None
        user_id, state, info = entry
        try:
            current = self._state(user_id)
            if current is not state and current != state:
                return None
        except StoreUnavailable:
            return None  # the full flow answers with its 503
        return info

    def remember(
        self, cookie: str, identity: Identity, state: UserState, info: TwoFactorInfo, until: float | None = None
    ) -> None:
        """Keep a signed-in user's pass; ``until`` is when the verified cookie it relied on expires.

        Anonymous answers are not kept: they are cheap anyway, and anyone could
        fill the cache with them. Long headers are not kept either, which bounds
        the memory at ``maxsize`` x ``MAX_KEY``.
        """
        if len(cookie) > MAX_KEY:
            return
        ttl = self.cache.ttl
        now = self._clock()
        for end in (until, identity.expires_at):
            if end is not None:
                ttl = min(ttl, end - now)
        if ttl > 0:
            self.cache.set(cookie, (identity.user_id, state, info), ttl)

    def clear(self) -> None:
        self.cache.clear()

    def __len__(self) -> int:
        return len(self.cache)


class TokenPasses:
    """The pass :func:`~twofa_middleware.decision.decide` gave a personal access token,
    remembered by the token's keyed hash (no token is kept in memory).

    Only a pass that would hold on any path is kept (the caller's to judge: a token
    with no path scopes, no enrollment policy). An entry ends at the earliest of
    the service's cached record it was decided on, the token's expiry, and the
    next stamp of its use (so the full path stamps it, once a minute). It is used
    only while the service's token records have seen no invalidation since the
    record was read (their :attr:`~twofa_middleware.cache.TTLCache.generation`): a
    revocation here, or told by another instance, ends every remembered token
    pass at once, and the next request of each token is decided anew.

    :param records: the service's cache of token records.
    :param listen: the service's change feed's ``ensure_listening`` (None without one,
        as on SQLite), called at every read, hit or not, as the service's own caches do.
    """

    def __init__(self, records: TTLCache[bytes, TokenRecord], listen: Callable[[], None] | None,
                 maxsize: int = 20_000) -> None:
        self._records = records
        self._listen = listen
        self._maxsize = maxsize
        self._data: dict[bytes, tuple[float, int, Pass]] = {}

    def get(self, token: str, now: float) -> Pass | None:
        """The remembered pass of this token, else None (the caller decides in full, and
        refuses what is not a token: no other length, nothing but ASCII, is hashed here)."""
        if len(token) != LENGTH or not token.isascii():
            return None
        if self._listen is not None:
            self._listen()
        entry = self._data.get(cache_key(token))
        if entry is None or entry[0] <= now or entry[1] != self._records.generation:
            return None
        return entry[2]

    def remember(self, token: str, record: TokenRecord, generation: int, decided: Pass, until: float) -> None:
        """Keep ``decided`` until ``until``, if ``record``, which it was decided on, is still
        the very one cached: ``generation`` is the records' generation read before it was."""
        key = cache_key(token)
        cached = self._records.entries().get(key)
        if cached is None or cached[1] is not record or generation != self._records.generation:
            return  # not cached (``cache_seconds`` 0), reloaded, or invalidated since it was read
        if len(self._data) >= self._maxsize:
            self._data.clear()
        self._data[key] = (min(until, cached[0]), generation, decided)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

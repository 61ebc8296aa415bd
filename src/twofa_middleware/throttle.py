"""Failed-attempt lockout: a pure policy; the store keeps the counts."""

from __future__ import annotations

import math

from .config import Settings


def lock_seconds(failures: int, settings: Settings) -> int:
    """How long the 2FA step locks after ``failures`` wrong codes in a row.

    Nothing below the threshold; then ``lockout_base_seconds``, doubling with each
    further failure, capped at ``lockout_max_seconds``.
    """
    if failures < settings.lockout_threshold:
        return 0
    exponent = min(failures - settings.lockout_threshold, 32)
    return min(settings.lockout_base_seconds * (1 << exponent), settings.lockout_max_seconds)


def retry_after(locked_until: float | None, now: float) -> int:
    """Whole seconds left of a lock; 0 when not locked."""
    if locked_until is None or locked_until <= now:
        return 0
    return max(1, math.ceil(locked_until - now))

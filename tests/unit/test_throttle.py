"""throttle: the lockout schedule and the seconds left, with an injected time."""

from __future__ import annotations

import pytest

from twofa_middleware import throttle
from twofa_middleware.config import Settings

SETTINGS = Settings()


@pytest.mark.parametrize(
    "failures, seconds",
    [
        pytest.param(0, 0, id="none"),
        pytest.param(4, 0, id="4-below-threshold"),
        pytest.param(5, 30, id="5-first-lock"),
        pytest.param(6, 60, id="6-doubles"),
        pytest.param(7, 120, id="7"),
        pytest.param(8, 240, id="8"),
        pytest.param(9, 480, id="9"),
        pytest.param(10, 900, id="10-capped"),
        pytest.param(11, 900, id="11-stays-capped"),
        pytest.param(10_000, 900, id="huge-count-no-overflow"),
    ],
)
def test_lock_seconds_doubles_from_threshold_up_to_cap(failures, seconds):
    assert throttle.lock_seconds(failures, SETTINGS) == seconds


def test_lock_seconds_follows_configured_policy():
    settings = Settings(lockout_threshold=3, lockout_base_seconds=10, lockout_max_seconds=35)
    assert [throttle.lock_seconds(n, settings) for n in range(2, 7)] == [0, 10, 20, 35, 35]


@pytest.mark.parametrize(
    "locked_until, now, left",
    [
        pytest.param(None, 1000.0, 0, id="never-locked"),
        pytest.param(1000.0, 1000.0, 0, id="lock-ends-now"),
        pytest.param(990.0, 1000.0, 0, id="lock-over"),
        pytest.param(1030.0, 1000.0, 30, id="whole-seconds-left"),
        pytest.param(1000.2, 1000.0, 1, id="fraction-rounds-up"),
        pytest.param(1029.5, 1000.0, 30, id="rounds-up-not-down"),
    ],
)
def test_retry_after_is_whole_seconds_left(locked_until, now, left):
    assert throttle.retry_after(locked_until, now) == left

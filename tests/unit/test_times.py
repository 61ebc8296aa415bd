"""times: one time format for the CLI, the pages and the API."""

from __future__ import annotations

from datetime import datetime

import pytest

from twofa_middleware.times import rfc3339


@pytest.mark.parametrize(
    "ts, shown",
    [
        pytest.param(0, "1970-01-01T00:00:00Z", id="epoch"),
        pytest.param(1_769_860_800.0, "2026-01-31T12:00:00Z", id="noon"),
        pytest.param(1_769_860_800.999, "2026-01-31T12:00:00Z", id="fractions-dropped"),
        pytest.param(None, None, id="none-stays-none"),
    ],
)
def test_rfc3339_is_utc_to_the_second(ts, shown):
    assert rfc3339(ts) == shown


def test_rfc3339_reads_back_as_the_same_instant():
    assert datetime.fromisoformat(rfc3339(1_769_860_800)).timestamp() == 1_769_860_800

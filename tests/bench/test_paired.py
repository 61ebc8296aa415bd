"""bench.paired: the order-statistics interval, the verdict, and the pairs it takes."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import paired

finite = st.floats(min_value=0.01, max_value=100.0, allow_nan=False)
samples = st.lists(finite, min_size=1, max_size=200)


def test_median_interval_takes_the_published_ranks():
    """Conover's table for a 90 % interval of the median: n = 21 gives x(7) .. x(15), n = 10 x(2) .. x(9)."""
    values = [float(i) for i in range(1, 22)]
    random.Random(1).shuffle(values)
    assert paired.median_interval(values) == (7.0, 15.0)
    assert paired.median_interval([float(i) for i in range(10, 0, -1)]) == (2.0, 9.0)


def test_too_few_pairs_bound_nothing():
    """Four values cannot bound the median at 90 % (1/16 per tail > 5 %): both ends open, so unsure."""
    low, high = paired.median_interval([1.0, 2.0, 3.0, 4.0])
    assert (low, high) == (-math.inf, math.inf)
    assert paired.verdict("≤ 1.10", low, high) == paired.UNSURE
    assert paired.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0)


@pytest.mark.parametrize("n", [9, 30, 101])
def test_interval_covers_the_true_median_at_least_as_often_as_it_says(n):
    """Skewed noise (lognormal, true median 1): the interval holds it in ≥ 90 % of 3,000 runs, and
    not in nearly all of them (it is not merely wide)."""
    rng = random.Random(n)
    trials = 3_000
    hits = sum(
        low <= 1.0 <= high
        for low, high in (paired.median_interval([rng.lognormvariate(0, 0.3) for _ in range(n)])
                          for _ in range(trials))
    )
    assert 0.885 * trials <= hits <= 0.985 * trials


def test_p99_needs_many_samples_for_an_upper_end():
    """A 90 % interval's upper end for the 99th percentile needs n with 0.99**n ≤ 5 %: 299 values."""
    assert paired.quantile_interval([1.0] * 200, 0.99)[1] == math.inf
    values = [float(i) for i in range(1, 301)]
    assert paired.quantile_interval(values, 0.99)[1] == 300.0


@given(samples)
def test_interval_is_ordered_holds_the_sample_median_and_ignores_order(values):
    low, high = paired.median_interval(values)
    median = sorted(values)[(len(values) - 1) // 2]
    assert low <= median <= high
    for end in (low, high):
        assert math.isinf(end) or end in values
    assert paired.median_interval(list(reversed(values))) == (low, high)


@given(samples)
def test_more_confidence_never_narrows(values):
    low90, high90 = paired.median_interval(values, 0.90)
    low99, high99 = paired.median_interval(values, 0.99)
    assert low99 <= low90 and high90 <= high99


@given(finite, finite, finite)
def test_verdict_is_yes_only_when_the_whole_interval_meets_and_no_only_when_none_does(a, b, limit):
    low, high = sorted((a, b))
    for sign, meets in (("≤", lambda x: x <= limit), ("≥", lambda x: x >= limit)):
        answer = paired.verdict(f"{sign} {limit}", low, high)
        if answer == paired.YES:
            assert meets(low) and meets(high)
        elif answer == paired.NO:
            assert not meets(low) and not meets(high)
        else:
            assert answer == paired.UNSURE and meets(low) != meets(high)


def test_verdict_reads_the_targets_of_the_table():
    assert paired.verdict("≤ 1.10", 0.99, 1.08) == paired.YES
    assert paired.verdict("≤ 1.10", 1.11, 1.30) == paired.NO
    assert paired.verdict("≤ 1.10", 1.05, 1.12) == paired.UNSURE
    assert paired.verdict("≥ 0.95", 0.96, 1.02) == paired.YES
    assert paired.verdict("≥ 0.95", 0.80, 0.94) == paired.NO
    assert paired.verdict("", 0.8, 0.9) is None
    assert paired.formatted(0.99812, 1.0271) == "[0.998, 1.027]"


class Turns:
    """Fake sides: record the order of turns; B/A follows a list of ratios, one per pair."""

    def __init__(self, ratios):
        self.ratios = ratios
        self.order: list[str] = []

    def a(self):
        self.order.append("A")
        return {"us": 100.0}

    def b(self):
        self.order.append("B")
        pair = (len(self.order) - 1) // 2 - 1  # the first two turns are the warm-up
        return {"us": 100.0 * self.ratios[pair % len(self.ratios)]}


def test_compare_runs_abba_after_a_warmup_and_stops_when_decided():
    turns = Turns([1.01, 1.02, 0.99, 1.00, 1.03, 1.01, 1.02, 1.00])
    result = paired.compare(turns.a, turns.b, pairs=8, cap=64, judged="us", target="≤ 1.10")
    assert "".join(turns.order) == "AB" + "ABBA" * 4
    assert result.pairs == 8 and result.verdict == paired.YES
    assert result.figure["us"] == pytest.approx(1.01)
    assert result.low["us"] <= 1.01 <= result.high["us"] <= 1.03


def test_compare_doubles_the_pairs_while_unsure_up_to_the_cap():
    """Ratios spread evenly around the limit never decide: 8 → 16 → 32 → the cap of 40."""
    turns = Turns([0.9, 1.3, 1.0, 1.2, 1.1])
    result = paired.compare(turns.a, turns.b, pairs=8, cap=40, judged="us", target="≤ 1.10")
    assert result.pairs == 40 and result.verdict == paired.UNSURE
    assert len(turns.order) == 2 + 2 * 40


def test_compare_with_differences():
    turns = Turns([1.2] * 10)
    result = paired.compare(turns.a, turns.b, pairs=10, cap=10, judged="us", target="≤ 25",
                            combine=paired.difference)
    assert result.figure["us"] == pytest.approx(20.0) and result.verdict == paired.YES

"""A comparison B against A that holds on a noisy machine: many short pairs, an interval, a verdict.

A and B run in short turns in ABBA order (A B, B A, A B, ...), so a neighbour's
burst of work, a frequency change or a cache warming up falls on both sides of
a pair alike; each pair gives its own ratio B/A (or another per-pair figure,
such as a difference). The result is the median of those per-pair figures with
a distribution-free confidence interval for that median, from order statistics
(the number of pairs below the true median is binomial with p = 1/2), so no
assumption is made about how the noise is spread.

A target such as ``≤ 1.10`` or ``≥ 0.95`` is judged on the interval: ``yes``
when even its bad end meets the target, ``NO`` when even its good end misses
it, ``unsure`` otherwise; while unsure, :func:`compare` takes more pairs (it
doubles them, up to a cap) before it answers.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

CONFIDENCE = 0.90
YES, NO, UNSURE = "yes", "NO", "unsure"

Sample = Mapping[str, float]


def _binomial_cdfs(n: int, p: float) -> list[float]:
    """``[P(X ≤ 0), ..., P(X ≤ n)]`` for X ~ Binomial(n, p), from log-space terms (no overflow)."""
    if p <= 0 or p >= 1:
        raise ValueError("p must be strictly between 0 and 1")
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q)
        for i in range(n + 1)
    ]
    cdfs, total = [], 0.0
    for term in terms:
        total += term
        cdfs.append(min(1.0, total))
    cdfs[-1] = 1.0
    return cdfs


def quantile_interval(values: Sequence[float], q: float = 0.5,
                      confidence: float = CONFIDENCE) -> tuple[float, float]:
    """A two-sided distribution-free interval for the ``q`` quantile of what ``values`` sample.

    ``[x(j), x(k)]`` (order statistics, 1-based) with the narrowest equal-tailed
    ranks such that each tail holds at most ``(1 - confidence) / 2``: the count of
    samples below the true quantile is Binomial(n, q). An end that too few
    values can bound is infinite (``-inf`` or ``inf``), so a verdict stays unsure.
    """
    if not values:
        return -math.inf, math.inf
    ordered = sorted(values)
    n = len(ordered)
    tail = (1 - confidence) / 2
    cdf = _binomial_cdfs(n, q)
    # Lower end x(j): x(j) is above the quantile when fewer than j samples are below it,
    # P(X ≤ j - 1); take the largest j with that at most ``tail`` (0: none, -inf).
    j = 0
    while j < n and cdf[j] <= tail:
        j += 1
    # Upper end x(k): below the quantile when at least k samples are, P(X ≥ k) = 1 - P(X ≤ k - 1);
    # take the smallest k with that at most ``tail`` (n + 1: none, inf).
    k = n + 1
    while k >= 2 and 1 - cdf[k - 2] <= tail:
        k -= 1
    low = ordered[j - 1] if j >= 1 else -math.inf
    high = ordered[k - 1] if k <= n else math.inf
    return low, high


def median_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The interval of :func:`quantile_interval` for the median."""
    return quantile_interval(values, 0.5, confidence)


def parse_target(target: str) -> tuple[str, float] | None:
    """``"≤ 1.10"`` → ``("≤", 1.1)``; ``None`` for no target (or one this module cannot read)."""
    match = re.fullmatch(r"\s*([≤≥])\s*([\d.]+)\s*", target)
    if match is None:
        return None
    return match.group(1), float(match.group(2))


def verdict(target: str, low: float, high: float) -> str | None:
    """``yes``, ``NO`` or ``unsure`` for an interval ``[low, high]`` against ``target``; ``None``
    without a target."""
    parsed = parse_target(target)
    if parsed is None:
        return None
    sign, limit = parsed
    if sign == "≤":  # the bad end is the high one
        if high <= limit:
            return YES
        return NO if low > limit else UNSURE
    if low >= limit:
        return YES
    return NO if high < limit else UNSURE


def ratio(a: float, b: float) -> float:
    return b / a


def difference(a: float, b: float) -> float:
    return b - a


@dataclass
class Result:
    """Medians of each side, and per metric the median per-pair figure with its interval."""

    a: dict[str, float]
    b: dict[str, float]
    pairs: int
    figure: dict[str, float] = field(default_factory=dict)  # median per-pair ratio (or difference)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    judged: str = ""  # the metric the target was judged on
    target: str = ""
    verdict: str | None = None
    a_samples: list[Sample] = field(default_factory=list, repr=False)  # each turn's figures, pair by pair
    b_samples: list[Sample] = field(default_factory=list, repr=False)


def summarise(a_samples: Sequence[Sample], b_samples: Sequence[Sample], *,
              combine: Callable[[float, float], float] = ratio, judged: str = "", target: str = "",
              confidence: float = CONFIDENCE) -> Result:
    """The :class:`Result` of pairs already measured (``a_samples[i]`` beside ``b_samples[i]``)."""
    if len(a_samples) != len(b_samples) or not a_samples:
        raise ValueError("need as many A samples as B samples, at least one")
    metrics = [m for m in a_samples[0] if all(m in s for s in (*a_samples, *b_samples))]
    result = Result(
        {m: statistics.median(s[m] for s in a_samples) for m in metrics},
        {m: statistics.median(s[m] for s in b_samples) for m in metrics},
        len(a_samples), judged=judged, target=target, a_samples=list(a_samples), b_samples=list(b_samples),
    )
    for m in metrics:
        figures = [combine(a[m], b[m]) for a, b in zip(a_samples, b_samples, strict=True)]
        result.figure[m] = statistics.median(figures)
        result.low[m], result.high[m] = median_interval(figures, confidence)
    if judged and target:
        result.verdict = verdict(target, result.low[judged], result.high[judged])
    return result


def compare(run_a: Callable[[], Sample], run_b: Callable[[], Sample], *, pairs: int, cap: int,
            judged: str, target: str = "", combine: Callable[[float, float], float] = ratio,
            warmup: int = 1) -> Result:
    """Measure ``pairs`` pairs in ABBA order and judge ``judged`` against ``target``; while the
    verdict is unsure, double the pairs (up to ``cap``) and judge again.

    ``run_a`` and ``run_b`` each measure one short turn and return its figures
    (``{"us": 231.0}``, ``{"rps": ..., "cpu_us": ...}``); ``warmup`` turns of each
    are run first and dropped.
    """
    for _ in range(warmup):
        run_a()
        run_b()

    def one_pair(index: int) -> dict[str, tuple[Sample, Sample]]:
        if index % 2 == 0:
            a = run_a()
            return {"": (a, run_b())}
        b = run_b()
        return {"": (run_a(), b)}

    return compare_blocks(one_pair, pairs=pairs, cap=cap, judged=judged, targets={"": target},
                          combine=combine)[""]


def compare_blocks(run_block: Callable[[int], Mapping[str, tuple[Sample, Sample]]], *, pairs: int, cap: int,
                   judged: str, targets: Mapping[str, str], combine: Callable[[float, float], float] = ratio,
                   ) -> dict[str, Result]:
    """Several comparisons measured together: each call ``run_block(index)`` gives one pair
    ``(A, B)`` of each (by key), as when the servers compared are started afresh for every
    pair; while any verdict is unsure, double the blocks (up to ``cap``) and judge them all again."""
    samples: dict[str, tuple[list[Sample], list[Sample]]] = {}
    blocks, goal = 0, max(1, pairs)
    while True:
        while blocks < goal:
            for key, (a, b) in run_block(blocks).items():
                a_samples, b_samples = samples.setdefault(key, ([], []))
                a_samples.append(a)
                b_samples.append(b)
            blocks += 1
        results = {key: summarise(a, b, combine=combine, judged=judged, target=targets.get(key, ""))
                   for key, (a, b) in samples.items()}
        if goal >= cap or all(result.verdict != UNSURE for result in results.values()):
            return results
        goal = min(cap, goal * 2)


def formatted(low: float, high: float, *, digits: int = 3) -> str:
    """``[0.998, 1.027]`` (an unbounded end as ``-∞`` or ``∞``)."""
    def end(x: float) -> str:
        if math.isinf(x):
            return "∞" if x > 0 else "-∞"
        return f"{x:.{digits}f}"

    return f"[{end(low)}, {end(high)}]"

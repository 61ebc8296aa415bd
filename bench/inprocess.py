"""Calling the WSGI apps directly: what the middleware adds to one request."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return _write


def _write(data: bytes) -> None:
    pass


def call(
    app: Callable[..., Any], environ: dict[str, Any], start_response: Callable[..., Any] = _start_response
) -> None:
    body = app(dict(environ), start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def per_request_us(app: Callable[..., Any], environs: Sequence[dict[str, Any]], count: int) -> float:
    """Mean µs per call over ``count`` calls cycling through ``environs``."""
    n = len(environs)
    copies = [dict(e) for e in environs]
    started = time.perf_counter()
    for i in range(count):
        call(app, copies[i % n])
    return (time.perf_counter() - started) / count * 1e6


def compare(
    bare: Callable[..., Any],
    wrapped: Callable[..., Any],
    environs: Sequence[dict[str, Any]],
    count: int,
    rounds: int,
    wrapped_environs: Sequence[dict[str, Any]] | None = None,
) -> tuple[float, float, float]:
    """``(bare µs, wrapped µs, ratio)``: medians over ``rounds`` short rounds of ``count`` calls.

    The rounds alternate the two apps, and the ratio is the median of each
    round's own ratio, so a busy neighbour slows both sides of a pair alike.
    """
    inputs = {id(bare): environs, id(wrapped): wrapped_environs or environs}
    for app in (bare, wrapped):  # warm up caches, imports, the database pool
        per_request_us(app, inputs[id(app)], max(count // 2, len(inputs[id(app)])))
    bare_us: list[float] = []
    wrapped_us: list[float] = []
    ratios: list[float] = []
    for i in range(rounds):
        pair = (bare, wrapped) if i % 2 == 0 else (wrapped, bare)
        first, second = (per_request_us(app, inputs[id(app)], count) for app in pair)
        b, w = (first, second) if i % 2 == 0 else (second, first)
        bare_us.append(b)
        wrapped_us.append(w)
        ratios.append(w / b)
    return statistics.median(bare_us), statistics.median(wrapped_us), statistics.median(ratios)

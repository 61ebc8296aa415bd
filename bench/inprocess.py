"""Calling the WSGI apps directly: what the middleware adds to one request."""

from __future__ import annotations

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


def per_request(app: Callable[..., Any], environs: Sequence[dict[str, Any]], count: int) -> dict[str, float]:
    """``{"us", "cpu_us"}``: wall and this thread's CPU µs per call over ``count`` calls cycling
    through ``environs``. The CPU time is the steadier figure on a shared machine: a neighbour
    that takes the core away stops this thread's CPU clock, not the wall clock."""
    n = len(environs)
    copies = [dict(e) for e in environs]
    started, cpu = time.perf_counter(), time.thread_time()
    for i in range(count):
        call(app, copies[i % n])
    return {"us": (time.perf_counter() - started) / count * 1e6, "cpu_us": (time.thread_time() - cpu) / count * 1e6}

"""What the middleware itself adds to a request: wrapped around a no-op WSGI app, and around the Flask route.

``python -m bench.noop [calls] [rounds]`` prints, for scenarios a-d, the µs per
request of the bare app and of the wrapped one (CPU time, medians of ABBA pairs
of ``calls`` calls, bench.paired.compare) and what the middleware adds. Around the no-op app the
difference is the middleware's own cost (README, "Performance"); around Flask it
is the in-process row of ``make bench``. For noise-free instruction counts, run
it under ``valgrind --tool=callgrind`` with few calls.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.adapters.flask import session_identify

from . import apps, inprocess, paired


def noop_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The cheapest WSGI app: what is left of a wrapped request is the middleware."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def compare(bare: Callable[..., Any], wrapped: Callable[..., Any], environ: dict[str, Any], calls: int,
            rounds: int) -> tuple[float, float, float]:
    """CPU µs per request of ``bare`` and ``wrapped`` (medians of ``rounds`` ABBA pairs), and their ratio."""
    result = paired.compare(lambda: inprocess.per_request(bare, [environ], calls),
                            lambda: inprocess.per_request(wrapped, [environ], calls),
                            pairs=rounds, cap=rounds, judged="cpu_us")
    return result.a["cpu_us"], result.b["cpu_us"], result.figure["cpu_us"]


def main(calls: int = 20_000, rounds: int = 16) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = SQLAlchemyStore(f"sqlite:///{Path(directory) / 'noop.db'}")
        apps.seed(store, 100)
        flask = apps.flask_app()
        noop = TwoFactorMiddleware(noop_app, secret_key=apps.SECRET_KEY, store=store,
                                   identify=session_identify(flask), check_password=lambda user_id, password: False)
        wrapped = apps.flask_app()
        middleware = apps.wrap(wrapped, store)
        print(f"{'scenario':24} {'no-op':>7} {'wrapped':>8} {'added':>6}   {'Flask':>7} {'wrapped':>8} {'ratio':>6}")
        for key in ("a", "b", "c", "d"):
            environ = apps.scenario_environ(flask, noop, key, 5)
            bare_us, wrapped_us, _ = compare(noop_app, noop, environ, calls, rounds)
            flask_environ = apps.scenario_environ(wrapped, middleware, key, 5)
            flask_us, flask_wrapped_us, ratio = compare(
                flask.wsgi_app, wrapped.wsgi_app, flask_environ, max(calls // 20, 500), rounds
            )
            print(f"{key + ' ' + apps.SCENARIOS[key]:24} {bare_us:7.2f} {wrapped_us:8.2f} {wrapped_us - bare_us:6.2f}"
                  f"   {flask_us:7.1f} {flask_wrapped_us:8.1f} {ratio:6.3f}")
        store.dispose()


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))

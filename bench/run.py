"""The sections of ``make bench``, each measured side by side in one run."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from werkzeug.test import EnvironBuilder

from twofa_middleware import SQLAlchemyStore
from twofa_middleware.identity import Identity, TwoFactorInfo
from twofa_middleware.store.base import UserState

from . import apps, inprocess, load, server
from .table import Row, check


@dataclass(frozen=True)
class Plan:
    """How much to measure: ``QUICK`` is a smoke run of under a minute."""

    quick: bool
    inprocess_count: int
    inprocess_rounds: int
    http_seconds: float
    http_rounds: int
    verifications: int
    scale_sizes: tuple[int, int]
    scale_sample: int
    scale_verifications: int
    memory_cookies: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 300, 7, 1.0, 1, 100, (1_000, 10_000), 200, 100, 200_000)
        return cls(False, 1_000, 21, 5.0, 3, 1_000, (1_000, 100_000), 1_000, 500, 1_000_000)


IN_PROCESS_TARGETS = {"a": "≤ 1.05", "b": "≤ 1.10", "c": "≤ 1.10", "d": "≤ 1.10", "e": ""}
HTTP_TARGETS = {"a": "≥ 0.97", "b": "≥ 0.95", "c": "≥ 0.95", "d": "≥ 0.95"}
SCALE_TARGET = "≤ 1.2"


def _row(section: str, scenario: str, metric: str, a: float | None, b: float | None,
         ratio: float | None = None, target: str = "") -> Row:
    if ratio is None and a and b is not None:
        ratio = b / a
    return Row(section, scenario, metric, a, b, ratio, target, check(target, ratio) if target else None)


def _label(key: str) -> str:
    return f"{key} {apps.SCENARIOS[key]}"


def sqlite_store(directory: Path, name: str, enrolled: int) -> SQLAlchemyStore:
    store = SQLAlchemyStore(f"sqlite:///{directory / name}")
    apps.seed(store, enrolled)
    return store


# -- in-process ------------------------------------------------------------------


def in_process(plan: Plan, directory: Path) -> list[Row]:
    store = sqlite_store(directory, "inprocess.db", 1_000)
    bare = apps.flask_app()
    wrapped = apps.flask_app()
    middleware = apps.wrap(wrapped, store)
    rows = []
    for key in apps.SCENARIOS:
        environ = apps.scenario_environ(wrapped, middleware, key, 5)
        b, w, ratio = inprocess.compare(
            bare.wsgi_app, wrapped.wsgi_app, [environ], plan.inprocess_count, plan.inprocess_rounds
        )
        rows.append(_row("in-process", _label(key), "µs/request", b, w, ratio, IN_PROCESS_TARGETS[key]))
    store.dispose()
    return rows


# -- through gunicorn ------------------------------------------------------------


def through_gunicorn(plan: Plan, directory: Path) -> list[Row]:
    path = directory / "gunicorn.db"
    store = sqlite_store(directory, "gunicorn.db", 1_000)
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    rows = []
    with server.gunicorn("bare", f"sqlite:///{path}") as bare_url, \
            server.gunicorn("wrapped", f"sqlite:///{path}") as wrapped_url:
        for key in ("a", "b", "c", "d"):
            headers = apps.scenario_headers(app, middleware, key, 5)
            if key == "a" or not plan.quick:
                for url in (bare_url, wrapped_url):  # warm up: imports, caches, the pool
                    load.run(url, 1, apps.scenario_headers(app, middleware, "c", 5), count=2_000)
            results: dict[str, list[dict[str, float]]] = {"bare": [], "wrapped": []}
            for i in range(plan.http_rounds):
                order = [("bare", bare_url), ("wrapped", wrapped_url)]
                for name, url in order if i % 2 == 0 else reversed(order):
                    results[name].append(load.run(url, plan.http_seconds, headers))
            ratios = [w["rps"] / b["rps"] for b, w in zip(results["bare"], results["wrapped"], strict=True)]

            def med(name: str, field: str) -> float:
                return statistics.median(r[field] for r in results[name])  # noqa: B023 - used in this iteration only

            label = _label(key)
            rows.append(_row("gunicorn", label, "req/s", med("bare", "rps"), med("wrapped", "rps"),
                             statistics.median(ratios), HTTP_TARGETS[key]))
            rows.append(_row("gunicorn", label, "p50 ms", med("bare", "p50_ms"), med("wrapped", "p50_ms")))
            rows.append(_row("gunicorn", label, "p99 ms", med("bare", "p99_ms"), med("wrapped", "p99_ms")))
    store.dispose()
    return rows


# -- verification ----------------------------------------------------------------


def _capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    _capture.last = (status, headers)  # type: ignore[attr-defined]
    return lambda data: None


def verifications(store: SQLAlchemyStore, count: int, users: int) -> dict[str, float]:
    """POST verify with a valid code for ``count`` distinct users spread over ``users``."""
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    name = app.config["SESSION_COOKIE_NAME"]
    numbers = [i * users // count for i in range(count)]
    environs = []
    for n in numbers:
        csrf = middleware.cookies.csrf_token(Identity(apps.user_id(n), apps.nonce(n)))
        environs.append(EnvironBuilder(
            path="/_2fa/verify", method="POST", data={"code": apps.code_now(), "csrf_token": csrf},
            headers={"Cookie": f"{name}={apps.session_cookie(app, n)}", "Accept": "text/html"},
        ).get_environ())
    latencies = []
    started = time.perf_counter()
    for environ in environs:
        begin = time.perf_counter()
        inprocess.call(app.wsgi_app, environ, _capture)
        latencies.append(time.perf_counter() - begin)
        status, headers = _capture.last  # type: ignore[attr-defined]
        if not status.startswith("303") or not any(
            k == "Set-Cookie" and v.startswith(middleware.cookies.verified_name) for k, v in headers
        ):
            raise RuntimeError(f"verification failed: {status}")
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000,
    }


def postgres_store(url: str) -> SQLAlchemyStore | None:
    """A fresh schema in the benchmark's own database, created if missing; None when unreachable."""
    try:
        import psycopg

        parsed = make_url(url)
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{parsed.database}"')
        # The benchmark's own database: start from nothing, migrations included.
        with psycopg.connect(parsed.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
        return SQLAlchemyStore(url)
    except Exception:  # noqa: BLE001 - any failure means "not measured here"
        return None


def verification(plan: Plan, directory: Path, postgres_url: str) -> list[Row]:
    users = max(1_000, plan.verifications)
    lite = sqlite_store(directory, "verify.db", users)
    a = verifications(lite, plan.verifications, users)
    lite.dispose()
    b: dict[str, float | None] = {"rate": None, "p50_ms": None, "p99_ms": None}
    pg = postgres_store(postgres_url)
    if pg is not None:
        apps.seed(pg, users)
        b = verifications(pg, plan.verifications, users)  # type: ignore[assignment]
        pg.dispose()
    scenario = f"{plan.verifications:,} users, one code each"
    return [
        _row("verification", scenario, "verifications/s", a["rate"], b["rate"]),
        _row("verification", scenario, "p50 ms", a["p50_ms"], b["p50_ms"]),
        _row("verification", scenario, "p99 ms", a["p99_ms"], b["p99_ms"]),
    ]


# -- scale -------------------------------------------------------------------------


def scale(plan: Plan, directory: Path) -> list[Row]:
    small, big = plan.scale_sizes
    stores = {size: sqlite_store(directory, f"scale-{size}.db", size) for size in (small, big)}
    built = {}
    for size, store in stores.items():
        app = apps.flask_app()
        built[size] = (app, apps.wrap(app, store))
    rows = []
    scenario_big = f"{big:,}"
    for key in ("c", "d"):
        environs = {
            size: [apps.scenario_environ(app, mw, key, i * size // plan.scale_sample)
                   for i in range(plan.scale_sample)]
            for size, (app, mw) in built.items()
        }
        a, b, ratio = inprocess.compare(
            built[small][0].wsgi_app, built[big][0].wsgi_app, environs[small],
            max(plan.inprocess_count, plan.scale_sample), plan.inprocess_rounds, environs[big],
        )
        rows.append(_row("scale", f"{_label(key)}, {plan.scale_sample:,} users cycling",
                         f"µs/request ({small:,} → {scenario_big})", a, b, ratio, SCALE_TARGET))
    results = {}
    for size, store in stores.items():
        results[size] = verifications(store, plan.scale_verifications, size)
    a_ms, b_ms = 1000 / results[small]["rate"], 1000 / results[big]["rate"]
    rows.append(_row("scale", f"verification, {plan.scale_verifications:,} users",
                     f"ms/verification ({small:,} → {scenario_big})", a_ms, b_ms, None, SCALE_TARGET))
    for store in stores.values():
        store.dispose()
    return rows


# -- memory ------------------------------------------------------------------------


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes of ``obj`` and everything it holds that was not counted yet (shared objects once)."""
    if id(obj) in seen or obj is None or isinstance(obj, (bool, type)):
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (tuple, list)):
        size += sum(deep_size(item, seen) for item in obj)
    elif hasattr(obj, "__slots__") and not isinstance(obj, (str, int, float)):
        size += sum(deep_size(getattr(obj, name, None), seen) for name in getattr(obj, "__slots__", ()))
    return size


def memory(plan: Plan) -> list[Row]:
    """Feed the middleware's caches as ``memory_cookies`` distinct signed-in browsers would,
    then weigh what they keep."""
    app = apps.flask_app()
    middleware = apps.wrap(app, SQLAlchemyStore("sqlite://"))
    caches = middleware.caches()
    cookies, passes = middleware.cookies, middleware.passes
    assert passes is not None
    now = time.time()
    session_name, verified_name = app.config["SESSION_COOKIE_NAME"], cookies.verified_name
    for i in range(plan.memory_cookies):
        # Realistic lengths: a Flask session cookie and a verified cookie as this run signs them.
        session = (
            f"eyJsb2dpbl9ub25jZSI6Im5vbmNlLTAwMDAwMDUtYmVuY2giLCJ1c2VyX2lkIjoi{i:012d}"
            ".aQk8Yw.Xg5d0bR7kq2xW1-Jt8mZx0pQnA"
        )
        verified = (
            f"WyJ1c2VyMDAwMDAwNSIsImYzZjU2YjBhZDk4YjQ3NDk5YzE2ZmI0MDk1YjQ5NzJkIiwxXQ.{i:012d}"
            ".9vQyH2cA0pL3xR8sN1mKbT7dWfE"
        )
        header = f"_ga=GA1.1.123456789.1700000000; theme=dark; {session_name}={session}; {verified_name}={verified}"
        uid = apps.user_id(i)
        identity = Identity(uid, apps.nonce(i), now + 86400)
        state = UserState(True, 1, 10, None)
        caches["sessions"].set(session, identity)
        caches["verified_cookies"].set(verified, (uid, f"{i:032x}", 1, now + 3600))
        caches["states"].set(uid, state)
        passes.remember(header, identity, state, TwoFactorInfo(uid, True, True, middleware.urls, 10), now + 3600)
    seen: set[int] = {id(middleware.urls)}
    used = sum(deep_size(cache.entries(), seen) for cache in caches.values())
    entries = sum(len(cache) for cache in caches.values())
    scenario = f"{plan.memory_cookies:,} distinct cookies"
    return [
        _row("memory", scenario, "MiB held by the caches", None, used / 2**20),
        _row("memory", scenario, "entries kept (bounded)", None, float(entries)),
    ]


def forward_auth(plan: Plan, directory: Path) -> list[Row]:
    """nginx serving a static page directly (A) vs behind ``auth_request`` to the
    forward-auth app under gunicorn (B), for a signed-in, verified user (c): the
    cost of the proxy architecture, where every request is a subrequest too."""
    nginx = server.nginx_path()
    if nginx is None:
        return [Row("forward-auth", "nginx auth_request vs direct", "req/s", None, None,
                    note="nginx not installed (apt-get install nginx)")]
    path = directory / "forward-auth.db"
    store = sqlite_store(directory, "forward-auth.db", 1_000)
    app = apps.flask_app()
    headers = apps.scenario_headers(app, apps.wrap(app, store), "c", 5)
    results: dict[str, list[dict[str, float]]] = {"direct": [], "guarded": []}
    with server.gunicorn("forward-auth", f"sqlite:///{path}") as auth_url, \
            server.nginx(nginx, auth_url) as (direct_url, guarded_url):
        for url in (direct_url, guarded_url):  # warm up; a failed check (not 200) raises here
            load.run(url, 1, headers, count=2_000)
        for i in range(plan.http_rounds):
            order = [("direct", direct_url), ("guarded", guarded_url)]
            for name, url in order if i % 2 == 0 else reversed(order):
                results[name].append(load.run(url, plan.http_seconds, headers))
    store.dispose()
    ratios = [g["rps"] / d["rps"] for d, g in zip(results["direct"], results["guarded"], strict=True)]

    def med(name: str, field: str) -> float:
        return statistics.median(r[field] for r in results[name])

    label = f"{_label('c')}: static page"
    return [
        _row("forward-auth", label, "req/s", med("direct", "rps"), med("guarded", "rps"),
             statistics.median(ratios)),
        _row("forward-auth", label, "p50 ms", med("direct", "p50_ms"), med("guarded", "p50_ms")),
        _row("forward-auth", label, "p99 ms", med("direct", "p99_ms"), med("guarded", "p99_ms")),
    ]

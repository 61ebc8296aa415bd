"""The sections of ``make bench``, each measured side by side in one run.

Every ratio comes from :mod:`bench.paired`: many short turns of A and B in ABBA
order, the median of the per-pair ratios with its 90 % interval, and a verdict
that takes more pairs while it is unsure.
"""

from __future__ import annotations

import http.client
import itertools
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import event
from sqlalchemy.engine import make_url
from werkzeug.test import EnvironBuilder

from twofa_middleware import SQLAlchemyStore, tokens
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.identity import Identity, TwoFactorInfo
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store.base import UserState

from . import apps, floor, inprocess, invalidation, load, paired, server
from .table import Row


@dataclass(frozen=True)
class Plan:
    """How much to measure: ``QUICK`` is a smoke run that still runs every section."""

    quick: bool
    calls: int  # in-process calls per turn
    pairs: int  # pairs measured first; doubled while unsure, up to cap
    cap: int
    burst: float  # seconds of load per turn
    http_servers: int  # of each side in a gunicorn block
    warm: float  # seconds of load per scenario before a block's turns
    http_pairs: int  # gunicorn blocks measured first; forward-auth pairs
    http_cap: int
    floor_calls: int  # verifications per turn (floor and scale)
    verifications: int  # POSTs per database through gunicorn
    scale_sizes: tuple[int, int]
    scale_sample: int  # users cycling in the scale rows' warm cache
    scale_cap: int
    unknown_requests: int
    invalidation_samples: int
    invalidation_cap: int
    memory_cookies: int

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            return cls(True, 100, 8, 16, 0.25, 1, 0.1, 6, 6, 5, 50, (1_000, 10_000), 200, 8, 10_000, 10, 10, 200_000)
        return cls(False, 200, 24, 192, 0.5, 2, 0.2, 16, 64, 20, 1_000, (1_000, 100_000), 1_000, 64, 10_000, 100, 400,
                   1_000_000)


IN_PROCESS_TARGETS = {"a": "≤ 1.05", "b": "≤ 1.10", "c": "≤ 1.10", "d": "≤ 1.10", "e": ""}
# The req/s targets (≥ 0.97 for a, ≥ 0.95 for b-d) judged on CPU time per request: ≤ 1/0.97, ≤ 1/0.95.
CPU_TARGETS = {"a": "≤ 1.031", "b": "≤ 1.053", "c": "≤ 1.053", "d": "≤ 1.053"}
SCALE_TARGET = "≤ 1.2"
FLOOR_TARGET = "≤ 1.5"
UNKNOWN_TARGET = "≤ 1"
INVALIDATION_TARGET = "≤ 500"  # ms, p99
HOP_TARGET = "≤ 1"  # ms added at p50


def _row(section: str, scenario: str, metric: str, a: float | None, b: float | None,
         ratio: float | None = None, target: str = "") -> Row:
    """A row measured once (no pairs): its ratio, and no interval."""
    if ratio is None and a and b is not None:
        ratio = b / a
    return Row(section, scenario, metric, a, b, ratio, target)


def _paired_row(section: str, scenario: str, metric: str, result: paired.Result, key: str,
                target: str = "") -> Row:
    """A row of one metric of a paired comparison, judged on its interval when it has a target."""
    low, high = result.low[key], result.high[key]
    return Row(section, scenario, metric, result.a[key], result.b[key], result.figure[key], target,
               paired.verdict(target, low, high) if target else None, low, high, result.pairs)


def _label(key: str) -> str:
    return f"{key} {apps.SCENARIOS[key]}"


def _progress(text: str) -> None:
    print(f"    {text}", file=sys.stderr, flush=True)


def sqlite_store(directory: Path, name: str, enrolled: int) -> SQLAlchemyStore:
    store = SQLAlchemyStore(f"sqlite:///{directory / name}")
    apps.seed(store, enrolled)
    return store


def _us_turn(app: Callable[..., Any], environs: Sequence[dict[str, Any]], count: int) -> Callable[[], paired.Sample]:
    return lambda: inprocess.per_request(app, environs, count)


def _calls_turn(fn: Callable[[], None], count: int) -> Callable[[], paired.Sample]:
    """One turn of ``count`` calls of ``fn``: µs per call."""
    def turn() -> paired.Sample:
        started = time.perf_counter()
        for _ in range(count):
            fn()
        return {"us": (time.perf_counter() - started) / count * 1e6}

    return turn


# -- in-process ------------------------------------------------------------------


def in_process(plan: Plan, directory: Path) -> list[Row]:
    store = sqlite_store(directory, "inprocess.db", 1_000)
    bare = apps.flask_app()
    wrapped = apps.flask_app()
    middleware = apps.wrap(wrapped, store)
    rows = []
    for key in apps.SCENARIOS:
        environ = apps.scenario_environ(wrapped, middleware, key, 5)
        result = paired.compare(
            _us_turn(bare.wsgi_app, [environ], plan.calls), _us_turn(wrapped.wsgi_app, [environ], plan.calls),
            pairs=plan.pairs, cap=plan.cap, judged="cpu_us", target=IN_PROCESS_TARGETS[key],
        )
        rows.append(_paired_row("in-process", _label(key), "CPU µs/request", result, "cpu_us",
                                IN_PROCESS_TARGETS[key]))
        _progress(f"in-process {key}: {result.pairs} pairs")
    store.dispose()
    return rows


# -- through gunicorn ------------------------------------------------------------


GUNICORN_SCENARIOS = ("a", "b", "c", "d")


def _alternating(bare: Sequence[server.Gunicorn], wrapped: Sequence[server.Gunicorn], seconds: float,
                 headers: dict[str, str]) -> tuple[paired.Sample, paired.Sample]:
    """One turn of :func:`load.alternate` between the two sides: req/s, p50/p99, and the workers'
    CPU µs per request served."""
    def cpu_ns(side: Sequence[server.Gunicorn]) -> int:
        return sum(s.cpu_ns() for s in side)

    bare_ns, wrapped_ns = cpu_ns(bare), cpu_ns(wrapped)
    a, b = load.alternate([s.port for s in bare], [s.port for s in wrapped], seconds, headers)
    return ({**a, "cpu_us": (cpu_ns(bare) - bare_ns) / 1000 / a["requests"]},
            {**b, "cpu_us": (cpu_ns(wrapped) - wrapped_ns) / 1000 / b["requests"]})


def through_gunicorn(plan: Plan, directory: Path) -> list[Row]:
    """The bare and the wrapped app under gunicorn, one sync worker each, in blocks.

    Two bare servers alone differ by about 1 % in CPU time per request, one process set
    to the next (where each lands in memory), and it stays for the process's life; so
    every block starts a fresh set of ``plan.http_servers`` of each, loads them in turn
    request by request for one turn per scenario, and is one pair of each row.
    """
    path = directory / "gunicorn.db"
    store = sqlite_store(directory, "gunicorn.db", 1_000)
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    headers = {key: apps.scenario_headers(app, middleware, key, 5) for key in GUNICORN_SCENARIOS}

    def block(index: int) -> dict[str, tuple[paired.Sample, paired.Sample]]:
        # Each block starts at the next scenario: what comes at a set moment of a new process's
        # life (its first full garbage collection, say) falls on every scenario in turn.
        first = index % len(GUNICORN_SCENARIOS)
        order = GUNICORN_SCENARIOS[first:] + GUNICORN_SCENARIOS[:first]
        with server.gunicorns(["bare", "wrapped"] * plan.http_servers, f"sqlite:///{path}") as started:
            bare, wrapped = started[0::2], started[1::2]
            for key in order:  # warm up: imports, caches, the pool
                _alternating(bare, wrapped, plan.warm, headers[key])
            return {key: _alternating(bare, wrapped, plan.burst, headers[key]) for key in order}

    results = paired.compare_blocks(block, pairs=plan.http_pairs, cap=plan.http_cap, judged="cpu_us",
                                    targets=CPU_TARGETS)
    rows = []
    for key in GUNICORN_SCENARIOS:
        result, label = results[key], _label(key)
        rows.append(_paired_row("gunicorn", label, "CPU µs/request", result, "cpu_us", CPU_TARGETS[key]))
        rows.append(_paired_row("gunicorn", label, "req/s", result, "rps"))
        rows.append(_paired_row("gunicorn", label, "p50 ms", result, "p50_ms"))
        rows.append(_paired_row("gunicorn", label, "p99 ms", result, "p99_ms"))
    _progress(f"gunicorn: {results['a'].pairs} blocks")
    store.dispose()
    return rows


# -- verification ----------------------------------------------------------------


def _percentiles(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rate": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": invalidation.percentile(ordered, 99) * 1000,
    }


def gunicorn_verifications(database_url: str, store: SQLAlchemyStore, count: int) -> dict[str, float]:
    """``count`` POSTs of /_2fa/verify, each with a fresh valid code for its own seeded user, to
    the wrapped app under gunicorn (1 sync worker) on ``database_url``, one after another."""
    users = count + 5  # the last five warm the worker up
    apps.seed(store, users)
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    cookie_name = app.config["SESSION_COOKIE_NAME"]

    # The cookies are made ahead; the code is read at send time.
    prepared = {n: {"Cookie": f"{cookie_name}={apps.session_cookie(app, n)}", "Accept": "text/html",
                    "Content-Type": "application/x-www-form-urlencoded"} for n in range(users)}
    with server.gunicorn("wrapped", database_url) as target:
        parts = urlsplit(target.url)

        def post(n: int) -> None:
            csrf = middleware.cookies.csrf_token(Identity(apps.user_id(n), apps.nonce(n)))
            body = urlencode({"code": apps.code_now(), "csrf_token": csrf})
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
            try:
                conn.request("POST", "/_2fa/verify", body=body, headers=prepared[n])
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            cookies = response.headers.get_all("Set-Cookie") or []
            if response.status != 303 or not any(c.startswith(middleware.cookies.verified_name) for c in cookies):
                raise RuntimeError(f"verification through gunicorn failed: {response.status}")

        for n in range(count, users):
            post(n)
        latencies = []
        started = time.perf_counter()
        for n in range(count):
            begin = time.perf_counter()
            post(n)
            latencies.append(time.perf_counter() - begin)
        elapsed = time.perf_counter() - started
    return _percentiles(latencies, elapsed)


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
    path = directory / "verify.db"
    lite = SQLAlchemyStore(f"sqlite:///{path}")
    a = gunicorn_verifications(f"sqlite:///{path}", lite, plan.verifications)
    lite.dispose()
    b: dict[str, float | None] = {"rate": None, "p50_ms": None, "p99_ms": None}
    pg = postgres_store(postgres_url)
    if pg is not None:
        b = gunicorn_verifications(postgres_url, pg, plan.verifications)  # type: ignore[assignment]
        pg.dispose()
    scenario = f"{plan.verifications:,} users, one code each"
    return [
        _row("verification", scenario, "verifications/s", a["rate"], b["rate"]),
        _row("verification", scenario, "p50 ms", a["p50_ms"], b["p50_ms"]),
        _row("verification", scenario, "p99 ms", a["p99_ms"], b["p99_ms"]),
    ]


# -- scale -------------------------------------------------------------------------


def _warm_turn(app: Callable[..., Any], forget: Callable[[], None], environs: Sequence[dict[str, Any]],
               count: int, fresh_for: float) -> Callable[[], paired.Sample]:
    """A turn on a warm cache only: every ``fresh_for`` seconds the caches are emptied and filled
    again, untimed, so no timed request meets an entry near its expiry (``fresh_for`` is well
    under ``cache_seconds``)."""
    filled = [-math.inf]

    def turn() -> paired.Sample:
        if time.monotonic() - filled[0] > fresh_for:
            forget()
            for environ in environs:
                inprocess.call(app, environ)
            filled[0] = time.monotonic()
        return inprocess.per_request(app, environs, count)

    return turn


def service_verifier(store: SQLAlchemyStore, users: int) -> Callable[[], None]:
    """``TwoFactorService.verify`` with a right code, each call for the next of ``users`` seeded
    users at a clock moved 30 s on (a fresh step every call, as in bench/floor.py)."""
    start = time.time() + 3600
    counter = itertools.count(1)
    now = [start]
    service = TwoFactorService(Settings(issuer="Bench"), KeyRing(apps.SECRET_KEY), store, lambda u, p: False,
                               clock=lambda: now[0])

    def verify_once() -> None:
        k = next(counter)
        now[0] = start + 30 * k
        user = apps.user_id((k * 7919) % users)  # spread over the whole table
        if service.verify(user, apps.code_now(now[0])) != "totp":
            raise RuntimeError("verify: not a TOTP sign-in")

    return verify_once


def scale(plan: Plan, directory: Path) -> list[Row]:
    small, big = plan.scale_sizes
    stores = {size: sqlite_store(directory, f"scale-{size}.db", size) for size in (small, big)}
    sizes = f"{small:,} → {big:,}"
    rows = []
    hits_cache = 60.0  # the largest cache_seconds: refilled every 20 s, so every timed request is a hit
    for mode, options in (("hits", {"cache_seconds": hits_cache}), ("misses", {"cache_seconds": 0})):
        built = {}
        for size, store in stores.items():
            app = apps.flask_app()
            built[size] = (app, apps.wrap(app, store, **options))
        for key in ("c", "d"):
            # Hits: the warm cache's users cycling; misses: as many users as calls, spread over the table.
            users = plan.scale_sample if mode == "hits" else plan.calls
            turns = []
            for size, (app, mw) in built.items():
                environs = [apps.scenario_environ(app, mw, key, i * size // users) for i in range(users)]
                if mode == "hits":
                    turns.append(_warm_turn(app.wsgi_app, mw.forget_cached, environs,
                                            max(plan.calls, users), hits_cache / 3))
                else:
                    turns.append(_us_turn(app.wsgi_app, environs, plan.calls))
            result = paired.compare(turns[0], turns[1], pairs=plan.pairs, cap=plan.scale_cap,
                                    judged="cpu_us", target=SCALE_TARGET)
            rows.append(_paired_row("scale", f"{_label(key)}, cache {mode}, {users:,} users",
                                    f"CPU µs/request ({sizes})", result, "cpu_us", SCALE_TARGET))
            _progress(f"scale {key} {mode}: {result.pairs} pairs")
    result = paired.compare(
        _calls_turn(service_verifier(stores[small], small), plan.floor_calls),
        _calls_turn(service_verifier(stores[big], big), plan.floor_calls),
        pairs=plan.pairs, cap=plan.scale_cap, judged="us", target=SCALE_TARGET,
    )
    result.a["us"], result.b["us"] = result.a["us"] / 1000, result.b["us"] / 1000  # shown in ms
    rows.append(_paired_row("scale", "verification (service.verify)", f"ms/verification ({sizes})",
                            result, "us", SCALE_TARGET))
    for store in stores.values():
        store.dispose()
    return rows


# -- unknown token ------------------------------------------------------------------


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


def unknown_token_queries(store: SQLAlchemyStore, requests: int) -> tuple[int, int]:
    """``(queries, cache periods)``: ``requests`` in-process requests with one well-formed token
    that no one holds, and the SQL queries the store's engine ran meanwhile (statements other
    than transaction control)."""
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    token = apps.token_for(99_999_999)
    if not tokens.is_well_formed(token):
        raise RuntimeError("the made-up token is not well-formed")
    environ = EnvironBuilder(path="/", headers=[("Authorization", f"Bearer {token}"),
                                                ("Accept", "application/json")]).get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    inprocess.call(app.wsgi_app, environ, start_response)  # the schema check, the pool: not counted
    middleware.forget_cached()
    queries = [0]

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Transaction control is not a query (pysqlite's BEGIN is a statement, psycopg's is not).
        if statement.split(None, 1)[0].upper() not in TRANSACTION_CONTROL:
            queries[0] += 1

    event.listen(store.engine, "before_cursor_execute", count)
    started = time.monotonic()
    try:
        for _ in range(requests):
            inprocess.call(app.wsgi_app, environ, start_response)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    elapsed = time.monotonic() - started
    if any(not s.startswith("401") for s in statuses):
        raise RuntimeError(f"the unknown token was not refused: {set(statuses)}")
    return queries[0], max(1, math.ceil(elapsed / middleware.settings.cache_seconds))


def unknown_token(plan: Plan, directory: Path, postgres_url: str) -> list[Row]:
    rows = []
    scenario = f"{plan.unknown_requests:,} requests, one made-up token"
    makers: list[tuple[str, Callable[[], SQLAlchemyStore | None]]] = [
        ("SQLite", lambda: sqlite_store(directory, "unknown.db", 1_000)),
        ("PostgreSQL", lambda: postgres_store(postgres_url)),
    ]
    for label, make in makers:
        store = make()
        if store is None:
            rows.append(Row("unknown token", f"{scenario}, {label}", "queries per cache period", None, None,
                            target=UNKNOWN_TARGET, note="PostgreSQL not reachable (BENCH_POSTGRES_URL)"))
            continue
        if label == "PostgreSQL":
            apps.seed(store, 1_000)
        queries, periods = unknown_token_queries(store, plan.unknown_requests)
        store.dispose()
        figure = queries / periods
        rows.append(Row("unknown token", f"{scenario}, {label}", "queries per cache period", float(periods),
                        float(queries), figure, UNKNOWN_TARGET, paired.verdict(UNKNOWN_TARGET, figure, figure)))
    return rows


# -- floor --------------------------------------------------------------------------


def floor_rows(plan: Plan, directory: Path, postgres_url: str) -> list[Row]:
    rows = []
    for label, url in (("SQLite", f"sqlite:///{directory / 'floor.db'}"), ("PostgreSQL", postgres_url)):
        if label == "PostgreSQL":
            reachable = postgres_store(postgres_url)
            if reachable is None:
                rows.append(Row("floor", f"verify ÷ floor, {label}", "µs/verification", None, None,
                                target=FLOOR_TARGET, note="PostgreSQL not reachable (BENCH_POSTGRES_URL)"))
                continue
            reachable.dispose()
        verify_once, floor_once, close = floor.pair(url)
        try:
            result = paired.compare(_calls_turn(floor_once, plan.floor_calls),
                                    _calls_turn(verify_once, plan.floor_calls),
                                    pairs=plan.pairs, cap=plan.cap, judged="us", target=FLOOR_TARGET)
        finally:
            close()
        rows.append(_paired_row("floor", f"verify ÷ floor, {label}", "µs/verification", result, "us",
                                FLOOR_TARGET))
        _progress(f"floor {label}: {result.pairs} pairs")
    return rows


# -- invalidation -------------------------------------------------------------------


def invalidation_rows(plan: Plan, postgres_url: str) -> list[Row]:
    scenario = "revoked through A, refused by B"
    reachable = postgres_store(postgres_url)
    if reachable is None:
        return [Row("invalidation", scenario, "p99 ms", None, None, target=INVALIDATION_TARGET,
                    note="PostgreSQL not reachable (BENCH_POSTGRES_URL)")]
    reachable.dispose()
    with tempfile.TemporaryDirectory(prefix="twofa-bench-") as tmp, \
            invalidation.two_instances(postgres_url, str(Path(tmp) / "users.db")) as (a_url, b_url):
        values = invalidation.sample(a_url, b_url, plan.invalidation_samples)
        while True:
            ms = [v * 1000 for v in values]
            low, high = paired.quantile_interval(ms, 0.99)
            answer = paired.verdict(INVALIDATION_TARGET, low, high)
            if answer != paired.UNSURE or len(values) >= plan.invalidation_cap:
                break
            values += invalidation.sample(a_url, b_url, min(len(values), plan.invalidation_cap - len(values)))
    p50_low, p50_high = paired.median_interval(ms)
    n = len(ms)
    return [
        Row("invalidation", scenario, "p50 ms", None, statistics.median(ms), None, "", None, p50_low, p50_high, n),
        Row("invalidation", scenario, "p99 ms", None, invalidation.percentile(ms, 99), None, INVALIDATION_TARGET,
            answer, low, high, n),
    ]


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
    """The Node upstream behind nginx directly (A) vs behind ``auth_request`` to the forward-auth
    app under gunicorn (B), for a signed-in, verified user (c), one connection: the cost of the
    proxy architecture, where every request is a subrequest too."""
    label = f"{_label('c')}: Node upstream"
    nginx, node = server.nginx_path(), server.node_path()
    if nginx is None or node is None:
        missing = "nginx not installed (apt-get install nginx)" if nginx is None else "node not installed"
        return [Row("forward-auth", label, "p50 ms added (B - A)", None, None, target=HOP_TARGET, note=missing),
                Row("forward-auth", label, "req/s", None, None, note=missing)]
    path = directory / "forward-auth.db"
    store = sqlite_store(directory, "forward-auth.db", 1_000)
    app = apps.flask_app()
    middleware = apps.wrap(app, store)
    headers = apps.scenario_headers(app, middleware, "c", 5)
    with server.gunicorn("forward-auth", f"sqlite:///{path}") as auth, server.upstream(node) as app_url, \
            server.nginx(nginx, auth.url, app_url, apps.user_id(5)) as (direct_url, guarded_url):
        _check_hop(guarded_url, headers, apps.scenario_headers(app, middleware, "e", 5))
        for url in (direct_url, guarded_url):  # warm up; anything but 200 raises here
            load.run(url, 1, headers, count=1_000)

        def burst(url: str) -> Callable[[], paired.Sample]:
            return lambda: load.run(url, plan.burst, headers)

        result = paired.compare(burst(direct_url), burst(guarded_url), pairs=plan.http_pairs, cap=plan.http_cap,
                                judged="p50_ms", target=HOP_TARGET, combine=paired.difference)
    store.dispose()
    ratios = paired.summarise(result.a_samples, result.b_samples)
    _progress(f"forward-auth: {result.pairs} pairs")
    return [
        _paired_row("forward-auth", label, "p50 ms added (B - A)", result, "p50_ms", HOP_TARGET),
        _paired_row("forward-auth", label, "req/s", ratios, "rps"),
        _paired_row("forward-auth", label, "p99 ms", ratios, "p99_ms"),
    ]


def _check_hop(guarded_url: str, verified: dict[str, str], unverified: dict[str, str]) -> None:
    """The guarded location really asks: the verified user reaches the upstream as itself, the
    unverified one is sent to the verify page."""
    parts = urlsplit(guarded_url)
    for headers, status, expect in ((verified, 200, b"SECRET for " + apps.user_id(5).encode()),
                                    (unverified, 303, b"")):
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            conn.request("GET", parts.path, headers=headers)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != status or expect not in body:
            raise RuntimeError(f"forward-auth hop: {response.status} {body[:200]!r}, expected {status}")

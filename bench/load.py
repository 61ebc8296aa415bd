"""Load on a server: wrk where installed, else a small Python generator.

The Python generator runs in the benchmark's own process, which does nothing
else meanwhile (no process to start per burst, so bursts can be short); the
server is always another process. It keeps each connection alive while the
server allows it (gunicorn's sync worker closes after every response, so it
then reconnects, as wrk does), and stops after ``count`` requests or
``seconds``, whichever comes first; :func:`alternate` loads two sets of servers
in turn, request by request, for a comparison of the two. Run as ``python -m bench.load URL SECONDS
COUNT [Header: value]...``; it prints one JSON line.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit


def wrk_path() -> str | None:
    """wrk, unless ``BENCH_LOADGEN=python`` asks for the Python generator."""
    if os.environ.get("BENCH_LOADGEN") == "python":
        return None
    return shutil.which("wrk")


def run(url: str, seconds: float, headers: dict[str, str], *, count: int = 200_000) -> dict[str, float]:
    """``{"rps", "p50_ms", "p99_ms", "requests"}`` for GET ``url`` under load for about ``seconds``."""
    wrk = wrk_path()
    if wrk is not None:
        return _wrk(wrk, url, seconds, headers)
    return generate(url, seconds, count, headers)


def _wrk(wrk: str, url: str, seconds: float, headers: dict[str, str]) -> dict[str, float]:
    args = [wrk, "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--latency"]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return {"rps": rps, "p50_ms": _wrk_ms(out, "50%"), "p99_ms": _wrk_ms(out, "99%"), "requests": requests}


def _wrk_ms(out: str, label: str) -> float:
    value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def generate(url: str, seconds: float, count: int, headers: dict[str, str]) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = parts.path or "/"
    latencies: list[float] = []
    conn: http.client.HTTPConnection | None = None
    started = time.perf_counter()
    deadline = started + seconds
    while len(latencies) < count:
        begin = time.perf_counter()
        if begin >= deadline:
            break
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - begin)
        _check(response, url)
        if response.will_close:
            conn.close()
            conn = None
    return _figures(latencies, time.perf_counter() - started)


def alternate(a_ports: Sequence[int], b_ports: Sequence[int], seconds: float,
              headers: dict[str, str]) -> tuple[dict[str, float], dict[str, float]]:
    """The figures of :func:`generate` for two sides, each a list of servers on loopback, loaded
    one request at a time in turn for about ``seconds``: server by server, A then B, B then A
    (which side goes first swaps every time). Interleaved this finely, a neighbour's burst of
    work or a frequency change falls on both sides alike. A side's req/s is its requests over the
    time they took (one connection each, new per request: gunicorn's sync worker closes it)."""
    latencies: tuple[list[float], list[float]] = ([], [])
    pairs = list(zip(a_ports, b_ports, strict=True))
    deadline = time.perf_counter() + seconds
    turn = 0
    while time.perf_counter() < deadline:
        for ports in pairs:
            for side in ((0, 1) if turn % 2 == 0 else (1, 0)):
                latencies[side].append(_get(ports[side], headers))
            turn += 1
    return _figures(latencies[0], sum(latencies[0])), _figures(latencies[1], sum(latencies[1]))


def _get(port: int, headers: dict[str, str]) -> float:
    """Seconds one GET / to ``127.0.0.1:port`` took, on a new connection."""
    begin = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/", headers=headers)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    elapsed = time.perf_counter() - begin
    _check(response, f"port {port}")
    return elapsed


def _check(response: http.client.HTTPResponse, where: str) -> None:
    if response.status != 200:  # a redirect to the verify page would be a cheaper request
        raise RuntimeError(f"{response.status} from {where}")


def _figures(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "requests": len(ordered),
    }


if __name__ == "__main__":
    target, secs, most = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    extra = dict(h.split(": ", 1) for h in sys.argv[4:])
    print(json.dumps(generate(target, secs, most, extra)))

"""How long a change made through one instance takes to be seen by another (PostgreSQL).

Two gunicorn processes of the Flask example share one PostgreSQL store (and
one SQLite file of the example's own users). Each sample creates a token
through A, uses it on B until B has it cached, revokes it through A, and polls
B until B refuses it. The time counts from the moment the revocation is sent
to A (so it includes A's own work: an upper bound of "from the commit").

    python -m bench.invalidation [DATABASE_URL] [SAMPLES]

(the URL defaults to ``TWOFA_TEST_DATABASE_URL``) prints p50 and p99.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import requests

from .server import stop_group

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-invalidation-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
API = "/_2fa/api"
GIVE_UP = 10.0  # seconds: a revocation not seen by then is reported as this (twice cache_seconds)


def start_instance(env: dict[str, str], threads: int = 8) -> tuple[subprocess.Popen[bytes], str]:
    """One gunicorn of the Flask example on a loopback port of its own (the socket handed over bound)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    try:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "--bind", f"fd://{listener.fileno()}",
                "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
                "--graceful-timeout", "3", "--log-level", "warning",
                "examples.flask_app.wsgi:app",
            ],
            cwd=ROOT, env=env, pass_fds=(listener.fileno(),), start_new_session=True,
        )
    finally:
        listener.close()
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        with suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(url + "/login", timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not start within 30 s")



@contextmanager
def two_instances(database_url: str, users_db: str, **env: str) -> Iterator[tuple[str, str]]:
    """Instances A and B on one store; yields their base URLs. ``env``: more of the example's settings."""
    environment = {
        **os.environ, "PYTHONPATH": str(ROOT), "TWOFA_DATABASE_URL": database_url,
        "EXAMPLE_USERS_DB": users_db, "SECRET_KEY": SECRET_KEY, **env,
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for _ in range(2):
            process, url = start_instance(environment)
            processes.append(process)
            urls.append(url)
        for process, url in zip(processes, urls, strict=True):
            wait_ready(process, url)
        yield urls[0], urls[1]
    finally:
        for process in processes:
            stop_group(process)


class Account:
    """A user of the example signed in on one instance through its JSON API, past the password check."""

    def __init__(self, base_url: str, user: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self._ok(self.http.post(base_url + "/api/register", json={"username": user, "password": PASSWORD}, timeout=30))
        self._ok(self.http.post(base_url + API + "/confirm-password", json={"password": PASSWORD}, timeout=30))

    @staticmethod
    def _ok(response: requests.Response) -> requests.Response:
        if response.status_code >= 300:
            raise RuntimeError(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
        return response

    def create_token(self) -> tuple[int, str]:
        body = self._ok(self.http.post(self.base + API + "/tokens", json={"name": "bench"}, timeout=30)).json()
        return int(body["id"]), str(body["token"])

    def revoke_token(self, token_id: int) -> None:
        self._ok(self.http.delete(f"{self.base}{API}/tokens/{token_id}", timeout=30))

    def close(self) -> None:
        self.http.close()


def bearer_status(http: requests.Session, base_url: str, token: str) -> int:
    return http.get(base_url + "/api/me", headers={"Authorization": f"Bearer {token}"},
                    allow_redirects=False, timeout=30).status_code


def seen_within(a: Account, b_url: str, http: requests.Session) -> float:
    """One sample: seconds from sending the revocation to A until B refuses the token."""
    token_id, token = a.create_token()
    for _ in range(3):  # B caches the token's record on first use
        if bearer_status(http, b_url, token) != 200:
            raise RuntimeError("B refused a live token")
    started = time.perf_counter()
    a.revoke_token(token_id)
    while bearer_status(http, b_url, token) != 401:
        elapsed = time.perf_counter() - started
        if elapsed > GIVE_UP:
            return elapsed
        time.sleep(0.002)
    return time.perf_counter() - started


def sample(a_url: str, b_url: str, samples: int) -> list[float]:
    """``samples`` measurements on instances already running."""
    a = Account(a_url, f"bench-{secrets.token_hex(4)}")
    http = requests.Session()
    try:
        return [seen_within(a, b_url, http) for _ in range(samples)]
    finally:
        a.close()
        http.close()


def latencies(database_url: str, samples: int) -> list[float]:
    """Seconds from a revocation through instance A until instance B refuses the token, ``samples`` times."""
    with tempfile.TemporaryDirectory(prefix="twofa-bench-") as tmp, \
            two_instances(database_url, str(Path(tmp) / "users.db")) as (a_url, b_url):
        return sample(a_url, b_url, samples)


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile (p99 of 20 samples is the largest)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def main(argv: list[str]) -> int:
    url = argv[0] if argv else os.environ.get("TWOFA_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        print("usage: python -m bench.invalidation POSTGRESQL_URL [SAMPLES]  (or set TWOFA_TEST_DATABASE_URL)")
        return 2
    samples = int(argv[1]) if len(argv) > 1 else 20
    values = latencies(url, samples)
    print(f"change through A seen by B (PostgreSQL), {samples} samples: "
          f"p50 {statistics.median(values) * 1000:.0f} ms, p99 {percentile(values, 99) * 1000:.0f} ms "
          f"(target p99 <= 500 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

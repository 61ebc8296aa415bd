"""The servers of the benchmark, on free loopback ports, each in its own process group.

gunicorn serves the bare, wrapped and forward-auth apps (one sync worker each,
whose CPU time :meth:`Gunicorn.cpu_ns` reads from ``/proc``); the Node app of
the adversarial suite (``tests/e2e/upstream.js``) is a real upstream; nginx
(one process, one worker, everything under a temporary prefix) proxies to it
directly and behind ``auth_request``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(process: subprocess.Popen[bytes], port: int, name: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.1)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after 10 s."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def cpu_ns(pid: int) -> int:
    """Nanoseconds process ``pid`` has run on a CPU (``/proc/PID/schedstat``, else utime + stime)."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from every process's ``/proc/PID/stat``)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError), open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                if int(f.read().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry))
    return found


@dataclass(frozen=True)
class Gunicorn:
    """A running gunicorn: its base URL and port, and its one worker, whose CPU time the benchmark reads."""

    port: int
    worker: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def cpu_ns(self) -> int:
        return cpu_ns(self.worker)


def _worker(master: int, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while True:
        workers = children(master)
        if len(workers) == 1:
            return workers[0]
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn {master} has {len(workers)} workers, not one")
        time.sleep(0.05)


@contextmanager
def gunicorns(modes: Sequence[str], db_url: str) -> Iterator[list[Gunicorn]]:
    """Serve ``bench.apps:serve_app()`` once per mode (bare, wrapped or forward-auth), each with one
    sync worker, all started together (a fresh set costs about one start, not one per server)."""
    env = {**os.environ, "BENCH_DB_URL": db_url,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    with ExitStack() as stack:
        started = []
        for mode in modes:
            port = free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                 "bench.apps:serve_app()"],
                cwd=ROOT, env={**env, "BENCH_MODE": mode}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True,
            )
            stack.callback(stop_group, process)
            started.append((process, port))
        servers = []
        for process, port in started:
            _wait_for_port(process, port, "gunicorn")
            servers.append(Gunicorn(port, _worker(process.pid)))
        yield servers


@contextmanager
def gunicorn(mode: str, db_url: str) -> Iterator[Gunicorn]:
    """One server of :func:`gunicorns`."""
    with gunicorns([mode], db_url) as (one,):
        yield one


def nginx_path() -> str | None:
    """nginx on PATH, or where Debian puts it (``/usr/sbin``, not on every user's PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def nginx_version(nginx: str) -> str:
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stderr or out.stdout).strip().rpartition("/")[2]  # "nginx version: nginx/1.22.1"


def node_path() -> str | None:
    return shutil.which("node")


UPSTREAM_JS = ROOT / "tests" / "e2e" / "upstream.js"


@contextmanager
def upstream(node: str) -> Iterator[str]:
    """The Node app of the adversarial suite on a free loopback port; yields its base URL."""
    process = subprocess.Popen(
        [node, str(UPSTREAM_JS), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        line = process.stdout.readline().decode()  # type: ignore[union-attr]
        if not line.startswith("listening "):
            raise RuntimeError(f"upstream.js did not start: {line!r} {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        stop_group(process)


# Both locations reach the same upstream page with the same X-Twofa-User (the
# upstream answers 200 only with one): /direct/ with a fixed one, /guarded/ with
# the one the forward-auth app answered, as in README's nginx example.
NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    default_type text/html;
    upstream twofa {{ server 127.0.0.1:{auth_port}; }}
    upstream app {{ server 127.0.0.1:{app_port}; }}
    server {{
        listen 127.0.0.1:{port};

        location = /_twofa_auth {{
            internal;
            proxy_pass http://twofa;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header Cookie $http_cookie;
        }}
        location /direct/ {{
            proxy_set_header X-Twofa-User "{user}";
            proxy_set_header Cookie $http_cookie;
            proxy_pass http://app/secret;
        }}
        location /guarded/ {{
            auth_request /_twofa_auth;
            auth_request_set $twofa_verify $upstream_http_x_twofa_verify_url;
            auth_request_set $twofa_user $upstream_http_x_twofa_user;
            error_page 401 = @twofa_verify;
            proxy_set_header X-Twofa-User $twofa_user;
            proxy_set_header Authorization "";
            proxy_set_header Cookie $http_cookie;
            proxy_pass http://app/secret;
        }}
        location @twofa_verify {{
            if ($twofa_verify = "") {{ return 401; }}
            return 303 $twofa_verify;
        }}
    }}
}}
"""


@contextmanager
def nginx(nginx_binary: str, auth_url: str, app_url: str, user: str) -> Iterator[tuple[str, str]]:
    """nginx in front of the app at ``app_url``; yields the URLs of it reached directly (as
    ``user``) and behind ``auth_request`` to the forward-auth app at ``auth_url``."""
    port = free_port()
    auth_port = int(auth_url.rstrip("/").rpartition(":")[2])
    app_port = int(app_url.rstrip("/").rpartition(":")[2])
    with tempfile.TemporaryDirectory(prefix="twofa-bench-nginx-") as tmp:
        prefix = Path(tmp)
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, auth_port=auth_port, app_port=app_port,
                                          user=user), encoding="utf-8")
        process = subprocess.Popen(
            [nginx_binary, "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")],
            cwd=prefix, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            _wait_for_port(process, port, "nginx")
            base = f"http://127.0.0.1:{port}"
            yield f"{base}/direct/", f"{base}/guarded/"
        finally:
            stop_group(process)

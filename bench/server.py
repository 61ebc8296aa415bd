"""The servers of the benchmark, on free loopback ports, each in its own process group.

gunicorn serves the bare, wrapped and forward-auth apps (one sync worker each);
nginx (one process, one worker, everything under a temporary prefix) serves a
static page directly and behind ``auth_request``.
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
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


@contextmanager
def gunicorn(mode: str, db_url: str) -> Iterator[str]:
    """Serve ``bench.apps:serve_app()`` in ``mode`` (bare, wrapped or forward-auth); yields its base URL."""
    port = free_port()
    env = {**os.environ, "BENCH_MODE": mode, "BENCH_DB_URL": db_url,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         "bench.apps:serve_app()"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        _wait_for_port(process, port, "gunicorn")
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_group(process)


def nginx_path() -> str | None:
    return shutil.which("nginx")


def nginx_version(nginx: str) -> str:
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=10, check=False)
    return (out.stderr or out.stdout).strip().rpartition("/")[2]  # "nginx version: nginx/1.22.1"


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
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/www;

        location = /_twofa_auth {{
            internal;
            proxy_pass http://twofa;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location /direct/ {{ }}
        location /guarded/ {{
            auth_request /_twofa_auth;
            auth_request_set $twofa_verify $upstream_http_x_twofa_verify_url;
            error_page 401 = @twofa_verify;
        }}
        location @twofa_verify {{
            if ($twofa_verify = "") {{ return 401; }}
            return 303 $twofa_verify;
        }}
    }}
}}
"""


@contextmanager
def nginx(nginx_binary: str, auth_url: str) -> Iterator[tuple[str, str]]:
    """nginx in front of one static page; yields the URLs of it served directly and
    behind ``auth_request`` to the forward-auth app at ``auth_url`` (as in README's config)."""
    port = free_port()
    auth_port = int(auth_url.rstrip("/").rpartition(":")[2])
    with tempfile.TemporaryDirectory(prefix="twofa-bench-nginx-") as tmp:
        prefix = Path(tmp)
        page = b"<!doctype html><title>bench</title><p>hello</p>\n"
        for folder in ("direct", "guarded"):
            (prefix / "www" / folder).mkdir(parents=True)
            (prefix / "www" / folder / "index.html").write_bytes(page)
        conf = prefix / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, port=port, auth_port=auth_port), encoding="utf-8")
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

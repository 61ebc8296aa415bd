"""Helpers for the end-to-end suite: real processes (node, gunicorn, nginx) on loopback.

Nothing here is imported from other test modules on purpose: the e2e suite
stands on its own, so it keeps working while the in-process tests change.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pyotp
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SECRET_KEY = "e2e-secret-key-0123456789abcdefghijklmnop"
PASSWORD = "correct horse battery staple"
MOUNT = "/_2fa"
API = MOUNT + "/api"
EXEMPT = ("/logout", "/assets/")
TIMEOUT = 10.0
NGINX = os.environ.get("TWOFA_TEST_NGINX", "/usr/sbin/nginx")


def missing_part(reason: str) -> None:
    """Skip locally when an external part is missing; in CI (TWOFA_REQUIRE_ALL=1) fail instead,
    so a skipped test can never pass for a run that should have had every part."""
    if os.environ.get("TWOFA_REQUIRE_ALL") == "1":
        pytest.fail(f"required part missing in CI: {reason}")
    pytest.skip(reason)


def unique(name: str) -> str:
    """A user name no other test uses (the stacks are shared by the whole session)."""
    return f"{name}-{secrets.token_hex(3)}"


# -- processes ----------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the test run dies (Linux), so nothing outlives it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen[Any], what: str, log: Path | None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s:\n{tail(log)}")


def tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop(proc: subprocess.Popen[Any], grace: float = 5) -> None:
    """SIGTERM the process we started (its own process group: gunicorn's worker too), then SIGKILL."""
    if proc.stdout is not None:
        proc.stdout.close()
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)


def start_node(workdir: Path) -> tuple[subprocess.Popen[Any], int, Path]:
    node = shutil.which("node")
    if node is None:
        missing_part("node is not installed (apt-get install nodejs)")
    log = workdir / "node.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [node, str(HERE / "upstream.js"), "--port", "0"],
            stdout=subprocess.PIPE, stderr=err, start_new_session=True, preexec_fn=_die_with_parent,
        )
    assert proc.stdout is not None
    deadline = time.monotonic() + 15
    line = b""
    # The first stdout line names the port; node prints it once it accepts connections.
    os.set_blocking(proc.stdout.fileno(), False)
    while time.monotonic() < deadline and not line.endswith(b"\n"):
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}:\n{tail(log)}")
        chunk = proc.stdout.read()
        if chunk:
            line += chunk
        else:
            time.sleep(0.02)
    match = re.match(rb"listening (\d+)", line)
    if not match:
        stop(proc)
        raise RuntimeError(f"node did not say its port: {line!r}\n{tail(log)}")
    port = int(match.group(1))
    wait_for_port(port, proc, "node", log)
    return proc, port, log


def start_gunicorn(workdir: Path, name: str, app: str, env: dict[str, str]) -> tuple[subprocess.Popen[Any], int, Path]:
    """``app`` under gunicorn (1 gthread worker) on a socket bound here and handed over as fd://."""
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        missing_part("gunicorn is not installed in this Python")
    log = workdir / f"{name}.log"
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    full_env = {
        **os.environ,
        **env,
        # The worktree's code wins over any installed copy.
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "gthread", "--threads", "4",
             "--bind", f"fd://{fd}", "--graceful-timeout", "2", "--timeout", "30",
             "--error-logfile", str(log), "--log-level", "info", app],
            cwd=str(ROOT), env=full_env, pass_fds=(fd,), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
    finally:
        listener.close()  # gunicorn holds its own copy
    wait_for_http(port, proc, f"gunicorn {name}", log)
    return proc, port, log


def wait_for_http(port: int, proc: subprocess.Popen[Any], what: str, log: Path, timeout: float = 20) -> None:
    """The socket accepts at once (it was bound for gunicorn); wait until a worker answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", API + "/openapi.json")
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"{what} did not answer within {timeout}s:\n{tail(log)}")


# -- nginx ----------------------------------------------------------------------------


def readme_forward_auth_snippet(readme: Path = ROOT / "README.md") -> str:
    """The ```nginx block under "### Forward auth" in README.md, as printed."""
    text = readme.read_text()
    start = text.find("\n### Forward auth")
    assert start >= 0, "README.md has no '### Forward auth' section"
    match = re.compile(r"^```nginx\n(.*?)^```", re.DOTALL | re.MULTILINE).search(text, start)
    assert match, "README.md has no ```nginx block after '### Forward auth'"
    between = text[text.index("\n", start + 1) : match.start()]
    assert not re.search(r"(?m)^#{1,3} ", between), "the ```nginx block is not in the '### Forward auth' section"
    return match.group(1)


def split_http_level(snippet: str) -> tuple[str, str]:
    """(``upstream {}`` blocks, everything else): nginx wants the former in ``http {}``, the rest in ``server {}``.

    The README prints them together; each statement is kept exactly as printed."""
    http_part: list[str] = []
    rest: list[str] = []
    i = 0
    for match in re.finditer(r"(?m)^upstream\s+\S+\s*\{", snippet):
        if match.start() < i:
            continue
        depth, j = 0, match.start()
        while j < len(snippet):
            if snippet[j] == "{":
                depth += 1
            elif snippet[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        rest.append(snippet[i : match.start()])
        http_part.append(snippet[match.start() : j + 1])
        i = j + 1
    rest.append(snippet[i:])
    return "\n".join(http_part), "".join(rest)


def nginx_config(workdir: Path, port: int, twofa_port: int, app_port: int) -> str:
    snippet = readme_forward_auth_snippet()
    # The README's ports, and only those, are put right for this run.
    assert "127.0.0.1:8080" in snippet and "127.0.0.1:3000" in snippet, snippet
    snippet = snippet.replace("127.0.0.1:8080", f"127.0.0.1:{twofa_port}")
    snippet = snippet.replace("127.0.0.1:3000", f"127.0.0.1:{app_port}")
    http_level, server_level = split_http_level(snippet)
    tmp = workdir
    return f"""# written by tests/e2e: README's forward-auth snippet, wrapped
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{http_level}
    server {{
        listen 127.0.0.1:{port};
{server_level}
    }}
}}
"""


def start_nginx(workdir: Path, twofa_port: int, app_port: int) -> tuple[subprocess.Popen[Any], int, Path]:
    if not (os.path.exists(NGINX) and os.access(NGINX, os.X_OK)):
        missing_part(f"nginx is not installed at {NGINX} (apt-get install nginx)")
    log = workdir / "nginx-error.log"
    last_error = ""
    for _ in range(5):  # a free port can be taken between the check and nginx's bind: try another
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_config(workdir, port, twofa_port, app_port))
        test = subprocess.run([NGINX, "-t", "-p", str(workdir), "-c", str(conf), "-e", str(log)],
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert test.returncode == 0, f"nginx -t refused the README's snippet:\n{test.stderr}\n{conf.read_text()}"
        with open(workdir / "nginx-stderr.log", "wb") as err:
            proc = subprocess.Popen(
                [NGINX, "-p", str(workdir), "-c", str(conf), "-e", str(log)],
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, preexec_fn=_die_with_parent,
            )
        try:
            wait_for_port(port, proc, "nginx", log)
            return proc, port, log
        except RuntimeError as exc:
            stop(proc)
            last_error = str(exc)
            if "Address already in use" not in last_error:
                raise
    raise RuntimeError(last_error)


# -- HTTP ------------------------------------------------------------------------------


@dataclass
class Raw:
    """A response read with http.client: every header line kept, in order."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Raw {self.status} {self.headers!r} {self.body[:300]!r}>"


def raw_request(base: str, method: str, target: str, headers: list[tuple[str, str]] | None = None,
                body: bytes | None = None) -> Raw:
    """One request with the target sent byte for byte (no normalising, unlike requests),
    and header lines sent as given: a name twice is two lines."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", parts.netloc)
        for name, value in headers or []:
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body)
        response = conn.getresponse()
        return Raw(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


def get(base: str, target: str, *headers: tuple[str, str]) -> Raw:
    return raw_request(base, "GET", target, list(headers))


# -- TOTP ------------------------------------------------------------------------------


class Authenticator:
    """An authenticator app on the real clock: each code is for a later time step than the last.

    The server accepts one step either side of now (``totp_window`` 1), so the
    code after the enrollment's is the next step's: no 30 s wait."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None

    def code(self) -> str:
        now_step = int(time.time()) // 30
        step = now_step if self.last_step is None else max(now_step, self.last_step + 1)
        while step > int(time.time()) // 30 + 1:  # too far ahead for the window: wait for it
            time.sleep(0.5)
        self.last_step = step
        return self.totp.at(step * 30)


# -- users through the real stack -------------------------------------------------------


@dataclass
class User:
    """One browser or API caller: its cookie jar, and its authenticator once enrolled."""

    base: str
    name: str
    http: requests.Session = field(default_factory=requests.Session)
    app: Authenticator | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return self.http.request(method, self.base + path, **kwargs)

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.request(method, API + path, json=body if body is not None or method != "GET" else None)

    def login(self) -> None:
        """A new sign-in at the app: a new sid, and only it in the jar."""
        self.http.cookies.clear()
        r = self.request("POST", "/api/login", json={"username": self.name, "password": PASSWORD})
        assert r.status_code == 200, (r.status_code, r.text)
        assert "sid" in self.http.cookies, r.headers

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    @property
    def sid(self) -> str:
        return self.http.cookies["sid"]

    def confirm_password(self) -> None:
        r = self.api("POST", "/confirm-password", {"password": PASSWORD})
        assert r.status_code == 200, (r.status_code, r.text)

    def enrol(self) -> list[str]:
        """2FA on through the JSON API: password again, setup, the first code."""
        self.confirm_password()
        r = self.api("POST", "/enroll", {})
        assert r.status_code == 200, (r.status_code, r.text)
        self.app = Authenticator(r.json()["secret"])
        r = self.api("POST", "/enroll/confirm", {"code": self.app.code()})
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["recovery_codes"]

    def verify_api(self) -> None:
        assert self.app is not None
        r = self.api("POST", "/verify", {"code": self.app.code()})
        assert r.status_code == 200 and r.json()["verified"] is True, (r.status_code, r.text)

    def verify_page(self, verify_url: str) -> requests.Response:
        """The verify page as a browser uses it: GET the form, POST the code with its CSRF token."""
        assert self.app is not None
        page = self.request("GET", verify_url, headers={"Accept": "text/html"})
        assert page.status_code == 200, (page.status_code, page.text[:300])
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        nxt = re.search(r'name="next" value="([^"]*)"', page.text)
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert csrf and nxt and action, page.text[:500]
        return self.request(
            "POST", action.group(1).replace("&amp;", "&"),
            data={"csrf_token": csrf.group(1), "next": _unescape(nxt.group(1)), "code": self.app.code()},
            headers={"Accept": "text/html"},
        )

    def create_token(self, paths: list[str] | None = None) -> str:
        self.confirm_password()
        body: dict[str, Any] = {"name": "e2e", "expires_in_days": 1}
        if paths is not None:
            body["paths"] = paths
        r = self.api("POST", "/tokens", body)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()["token"]


def _unescape(value: str) -> str:
    return value.replace("&amp;", "&").replace("&#34;", '"').replace("&#39;", "'").replace("&lt;", "<").replace(
        "&gt;", ">"
    )


def location_path(response: Raw | requests.Response, base: str) -> str:
    """The Location header as a path (nginx makes a relative one absolute)."""
    location = response.headers.get("Location") if isinstance(response, requests.Response) else response.header(
        "Location"
    )
    assert location, response
    parts = urlsplit(urljoin(base + "/", location))
    return parts.path + (f"?{parts.query}" if parts.query else "")


# -- X-Twofa-User -------------------------------------------------------------------------

_PRINTABLE_BUT_PERCENT = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != "%")


def user_header_values(name: str) -> set[str]:
    """What X-Twofa-User may carry for ``name``: UTF-8 percent-encoded, printable ASCII
    other than '%' as is. A space may stay or be %20 (both are unambiguous)."""
    return {quote(name, safe=_PRINTABLE_BUT_PERCENT), quote(name, safe=_PRINTABLE_BUT_PERCENT + " ")}

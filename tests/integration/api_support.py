"""Helpers for driving the JSON API over the real server with requests only.

Every response from ``/_2fa/api`` made through :class:`ApiClient` is checked
against the shipped OpenAPI document, so each API test also tests the document.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pyotp
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.helpers import LiveApp, live_example
from twofa_middleware.testing import FixedClock

MOUNT = "/_2fa"
API = f"{MOUNT}/api"
PASSWORD = "correct horse battery staple"
_DOC_URI = "urn:twofa:openapi"


LONGEST_CACHE = 60  # seconds: the longest cache_seconds allowed


@contextmanager
def example_with_longest_cache(tmp_path: Path, **config: Any) -> Iterator[LiveApp]:
    """The Flask example as the HTTP tests post to it (no CSRF token) with ``cache_seconds``
    at its longest: within it no cached record's end can hide a wrong answer."""
    with live_example(tmp_path, WTF_CSRF_ENABLED=False, TWOFA_CACHE_SECONDS=LONGEST_CACHE, **config) as live:
        yield live


def use_clock(live_app: Any) -> FixedClock:
    """Give the live app's service a clock the test moves (the service reads ``self.clock``),
    so each new TOTP code needs no wait of 30 s."""
    import time

    clock = FixedClock(float(int(time.time()) // 30 * 30 + 15))  # mid-step: no edge effects
    live_app.middleware.service.clock = clock
    return clock


class Authenticator:
    """An authenticator app: a fresh code per call, one time step later each time (no replay)."""

    def __init__(self, secret: str, clock: FixedClock) -> None:
        self.totp = pyotp.TOTP(secret)
        self.clock = clock
        self.last_step: int | None = None

    def code(self) -> str:
        step = int(self.clock()) // 30
        if self.last_step is not None and step <= self.last_step:
            self.clock.advance((self.last_step - step + 1) * 30)
            step = int(self.clock()) // 30
        self.last_step = step
        return self.totp.at(self.clock())

    def wrong_code(self) -> str:
        return f"{(int(self.totp.at(self.clock())) + 500_000) % 1_000_000:06d}"


# -- the OpenAPI document -----------------------------------------------------------


def openapi_document() -> dict[str, Any]:
    return json.loads(resources.files("twofa_middleware.web").joinpath("openapi.json").read_text())


class OpenApi:
    """Finds the operation for a request and validates a response against it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry = Registry().with_resource(_DOC_URI, resource)
        self._templates = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path) for path in document["paths"]
        ]

    def operation(self, path: str, method: str) -> tuple[str, dict[str, Any]] | None:
        for pattern, template in self._templates:
            if pattern.match(path):
                op = self.document["paths"][template].get(method.lower())
                return (template, op) if op else None
        return None

    def validate(self, response: requests.Response, api_path: str, method: str) -> None:
        found = self.operation(api_path, method)
        assert found is not None, f"{method} {api_path} is not in the OpenAPI document"
        template, op = found
        status = str(response.status_code)
        assert status in op["responses"], (
            f"{method} {template} answered {status}, which the document does not list: {response.text[:200]}"
        )
        spec = op["responses"][status]
        if "$ref" in spec:
            spec = self.resolve(spec["$ref"])
        for header in spec.get("headers", {}):
            assert header in response.headers, f"{method} {template} {status} lacks the {header} header"
        content = spec.get("content", {})
        if "application/json" in content:
            assert response.headers["Content-Type"].startswith("application/json"), response.headers
            pointer = self._pointer(template, method, status, spec)
            validator = Draft202012Validator({"$ref": pointer}, registry=self.registry)
            errors = sorted(validator.iter_errors(response.json()), key=str)
            assert not errors, f"{method} {template} {status}: {errors[0].message} in {response.text[:300]}"

    def resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def _pointer(self, template: str, method: str, status: str, spec: dict[str, Any]) -> str:
        raw = self.document["paths"][template][method.lower()]["responses"][status]
        if "$ref" in raw:
            return f"{_DOC_URI}{raw['$ref']}/content/application~1json/schema"
        escaped = template.replace("~", "~0").replace("/", "~1")
        return f"{_DOC_URI}#/paths/{escaped}/{method.lower()}/responses/{status}/content/application~1json/schema"


@functools.cache
def openapi() -> OpenApi:
    return OpenApi(openapi_document())


# -- a client -----------------------------------------------------------------------


class ApiClient:
    """One API caller: a cookie jar, the app's own JSON sign-in, and the 2FA API."""

    def __init__(self, base_url: str, validate: bool = True) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.validate = validate
        self.user: str | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, self.base_url + path, allow_redirects=False, timeout=10, **kwargs)
        if self.validate and path.startswith(API + "/") and method != "HEAD":
            openapi().validate(response, path[len(API):].split("?", maxsplit=1)[0], method)
        return response

    def api(self, method: str, path: str, json_body: Any = None, **kwargs: Any) -> requests.Response:
        if json_body is not None:
            kwargs["json"] = json_body
        return self.request(method, API + path, **kwargs)

    def get(self, path: str) -> requests.Response:
        return self.api("GET", path)

    def post(self, path: str, body: Any | None = None) -> requests.Response:
        return self.api("POST", path, {} if body is None else body)

    # -- the example app's own API --

    def register(self, user: str, password: str = PASSWORD) -> None:
        r = self.request("POST", "/api/register", json={"username": user, "password": password})
        assert r.status_code == 201, r.text
        self.user = user

    def login(self, user: str | None = None, password: str = PASSWORD) -> None:
        """A new sign-in: a new session nonce, so the second factor is owed again."""
        self.http.cookies.clear()
        user = user or self.user
        r = self.request("POST", "/api/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        self.user = user

    def me(self) -> requests.Response:
        return self.request("GET", "/api/me")

    # -- 2FA steps --

    def sudo(self, password: str = PASSWORD) -> None:
        r = self.post("/confirm-password", {"password": password})
        assert r.status_code == 200, r.text

    def enable(self, clock: FixedClock) -> tuple[Authenticator, list[str]]:
        """Enroll and confirm through the API; returns the app and the recovery codes."""
        self.sudo()
        r = self.post("/enroll")
        assert r.status_code == 200, r.text
        app = Authenticator(r.json()["secret"], clock)
        r = self.post("/enroll/confirm", {"code": app.code()})
        assert r.status_code == 200, r.text
        return app, r.json()["recovery_codes"]

    def verify(self, code: str) -> requests.Response:
        return self.post("/verify", {"code": code})

    def create_token(self, name: str = "script", **fields: Any) -> tuple[int, str]:
        r = self.post("/tokens", {"name": name, **fields})
        assert r.status_code == 201, r.text
        return r.json()["id"], r.json()["token"]


def bearer(base_url: str, token: str, path: str, **headers: str) -> requests.Response:
    """A request with a token and no cookies at all."""
    return requests.get(
        base_url + path, headers={"Authorization": f"Bearer {token}", **headers}, allow_redirects=False, timeout=10
    )

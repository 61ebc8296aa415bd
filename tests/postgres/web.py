"""A person at a browser, over real HTTP: sign in, pass the second factor, disable it."""

from __future__ import annotations

import requests

from tests.helpers import csrf_of

from .helpers import PASSWORD


class Browser:
    """One browser (one cookie jar) talking to one server."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self.http.headers["Accept"] = "text/html"

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=30, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, data: dict[str, str], **kwargs: object) -> requests.Response:
        return self.http.post(self.base + path, data=data, allow_redirects=False, timeout=30, **kwargs)  # type: ignore[arg-type]

    def sign_in(self, user: str, password: str = PASSWORD) -> None:
        """The app's own sign-in form, with the app's own CSRF token when it has one."""
        form = {"username": user, "password": password, "next": "/settings"}
        page = self.get("/login")
        if 'name="csrf_token"' in page.text:
            form["csrf_token"] = csrf_of(page.text)
        r = self.post("/login", form)
        assert r.status_code in (302, 303), r.text

    def verify_form(self) -> str:
        """Open the verify page; returns its CSRF token."""
        r = self.get("/_2fa/verify?next=/settings")
        assert r.status_code == 200, r.status_code
        return csrf_of(r.text)

    def submit_code(self, csrf: str, code: str) -> requests.Response:
        return self.post("/_2fa/verify", {"csrf_token": csrf, "next": "/settings", "code": code})

    def verify(self, code: str) -> requests.Response:
        return self.submit_code(self.verify_form(), code)

    def disable_2fa(self, password: str = PASSWORD) -> None:
        r = self.get("/_2fa/disable")
        assert r.status_code == 200, r.status_code
        r = self.post(
            "/_2fa/disable", {"csrf_token": csrf_of(r.text), "confirm": "1", "password": password, "next": "/settings"}
        )
        assert r.status_code == 303, r.text

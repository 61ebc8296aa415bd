"""Responses with the security headers every page of a security product needs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from werkzeug.wrappers import Request as _Request
from werkzeug.wrappers import Response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class Request(_Request):
    """Small bodies only: nothing the 2FA pages take is larger than a few KiB."""

    max_content_length = 64 * 1024
    max_form_memory_size = 64 * 1024
    max_form_parts = 50


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def with_language(response: Response, tag: str) -> Response:
    """Says which language the answer is in, and that it follows ``Accept-Language`` (for caches)."""
    response.headers["Content-Language"] = tag
    response.vary.add("Accept-Language")
    return response


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return secure(
        Response(json.dumps(payload), status=status, mimetype="application/json", headers=headers)
    )


def error_json(code: str, message: str, status: int, **extra: Any) -> Response:
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_response({"error": code, "message": message, **extra}, status, headers)


def redirect(location: str) -> Response:
    """303 See Other to a local path."""
    return secure(Response(status=303, headers={"Location": location}))


def safe_next(value: object, default: str) -> str:
    """Only a local path: ``/...``, never ``//``, a backslash trick, a scheme or control characters."""
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 2000:
        return default
    if value.startswith(("//", "/\\")) or any(ord(c) < 32 or c in "\\\x7f" for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def with_next(url: str, next_url: str | None) -> str:
    if not next_url:
        return url
    return f"{url}{'&' if '?' in url else '?'}next={quote(next_url, safe='/')}"


def wants_json(environ: dict[str, Any]) -> bool:
    """A page navigation gets pages; scripts, XHR and API calls get JSON."""
    if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
        return "application/json" in environ.get("CONTENT_TYPE", "") or "text/html" not in environ.get(
            "HTTP_ACCEPT", ""
        )
    if environ.get("HTTP_X_REQUESTED_WITH", "").lower() == "xmlhttprequest":
        return True
    return "text/html" not in environ.get("HTTP_ACCEPT", "")

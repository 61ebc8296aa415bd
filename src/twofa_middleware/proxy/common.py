"""What the proxy modules share: the upstream's address, its faults, and one error answer."""

from __future__ import annotations

import http.client
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from werkzeug.wrappers import Response

from .. import languages
from ..errors import TwoFactorError
from ..i18n import N_, Text
from ..web.http import error_json, secure, wants_json, with_language


class UpstreamUnavailable(TwoFactorError):
    """The upstream could not be asked (who is signed in, or a password): nothing is let through."""

    code = "upstream_unavailable"
    status = 502
    message = N_("The application is not reachable right now. Try again in a moment.")


class UpstreamTimeout(UpstreamUnavailable):
    code = "upstream_timeout"
    status = 504
    message = N_("The application took too long to answer. Try again in a moment.")


def error(environ: dict[str, Any], status: int, code: str, text: str | Text) -> Response:
    """The one error answer of the proxy modules, with the security headers: JSON for
    scripts and API calls, plain text for a page navigation; ``text`` (a marked msgid
    or an error's :attr:`~TwoFactorError.text`) in the language ``Accept-Language`` asks for."""
    language = languages.for_request(environ)
    message = language.text(text)
    if wants_json(environ):
        response = error_json(code, message, status)
    else:
        response = secure(Response(message + "\n", status, mimetype="text/plain"))
    return with_language(response, language.tag)


def phrase(status: int) -> str:
    """The reason phrase of a status (``Forbidden``), for WSGI status lines."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class Upstream:
    """Where the upstream is, from its base URL (``http://host:port/optional/prefix``)."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL with a host, not {url!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("upstream must not carry credentials, a query or a fragment")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
             limit: int = 64 * 1024) -> tuple[int, bytes]:
        """One small request; its status and up to ``limit`` bytes of body.

        Connection faults raise :class:`UpstreamUnavailable` (a timeout
        :class:`UpstreamTimeout`). No cookie the upstream sets is kept.
        """
        conn = self.connect()
        try:
            conn.request(method, self.base_path + path, body=body, headers={"Host": self.netloc, **headers})
            response = conn.getresponse()
            return response.status, response.read(limit)
        except TimeoutError as exc:
            raise UpstreamTimeout() from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a header http.client refused
            raise UpstreamUnavailable() from exc
        finally:
            conn.close()

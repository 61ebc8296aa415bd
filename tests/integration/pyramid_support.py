"""What the Pyramid tests share: the example served on loopback, and a header-based policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from examples.pyramid_app.app import make_app
from tests.helpers import SECRET_KEY, LiveApp, serve
from twofa_middleware.integrations.pyramid import get_middleware


class HeaderPolicy:
    """Signed in by a header (an SSO proxy, say): a channel the session knows nothing of."""

    def identity(self, request: Any) -> str | None:
        return request.headers.get("X-User")

    def authenticated_userid(self, request: Any) -> str | None:
        return self.identity(request)

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return True

    def remember(self, request: Any, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return []

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return []


def serve_example(tmp_path: Path) -> Iterator[LiveApp]:
    """The Pyramid example on a real loopback server, with its own SQLite files."""
    db_url = f"sqlite:///{tmp_path}/twofa.db"
    app = make_app({"users_database": str(tmp_path / "users.db"), "twofa_database_url": db_url,
                    "secret_key": SECRET_KEY})
    middleware = get_middleware(app.registry)
    url, server, thread = serve(app)
    try:
        yield LiveApp(url, app, middleware, db_url)
    finally:
        server.shutdown()
        thread.join(5)
        middleware.service.store.dispose()

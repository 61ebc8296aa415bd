"""The apps under test: one tiny Flask route, bare or wrapped, and the requests that reach it.

Everything a scenario needs (a store with enrolled users and tokens, the cookies
of a signed-in user, a valid token) is made here, so the in-process run, the
gunicorn workers and the verification run all measure the same thing.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

import pyotp
from flask import Flask
from sqlalchemy import insert
from werkzeug.test import EnvironBuilder

from twofa_middleware import SQLAlchemyStore, TwoFactorMiddleware, tokens
from twofa_middleware.adapters.flask import session_identify
from twofa_middleware.crypto import KeyRing
from twofa_middleware.identity import Identity
from twofa_middleware.proxy import ForwardAuth
from twofa_middleware.store.models import AccessToken, Authenticator, RecoveryCode, TwoFactorUser

SECRET_KEY = "bench-secret-key-0123456789abcdefghijklmnopqrstuv"
# One TOTP secret for every seeded user: encrypting 100,000 secrets would only
# slow the seeding down, and verification decrypts per attempt either way.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

SCENARIOS = {
    "a": "anonymous",
    "b": "signed in, no 2FA",
    "c": "signed in, verified",
    "d": "bearer token",
    "e": "signed in, not verified",
}


def flask_app() -> Flask:
    """The bare app: one plain route, and Flask's own signed session cookie."""
    app = Flask("bench")
    app.config["SECRET_KEY"] = SECRET_KEY

    @app.get("/")
    def index() -> str:
        return "hello"

    return app


def wrap(app: Flask, store: SQLAlchemyStore, **options: Any) -> TwoFactorMiddleware:
    middleware = TwoFactorMiddleware(
        app.wsgi_app,
        secret_key=SECRET_KEY,
        store=store,
        identify=session_identify(app),
        check_password=lambda user_id, password: False,
        **options,
    )
    app.wsgi_app = middleware  # type: ignore[method-assign]
    return middleware


def user_id(n: int) -> str:
    return f"user{n:07d}"


def nonce(n: int) -> str:
    return f"nonce-{n:07d}-bench"


def token_for(n: int) -> str:
    """A well-formed token, deterministic per user so that separate processes agree."""
    body = tokens._base62(int.from_bytes(n.to_bytes(8, "big") * 4, "big"), tokens._BODY)
    return tokens.PREFIX + body + tokens._checksum(body)


def seed(store: SQLAlchemyStore, enrolled: int, *, plain: int = 1, batch: int = 10_000) -> None:
    """``enrolled`` users with 2FA on (10 recovery codes and a token each), ``plain`` without.

    Bulk inserts through SQLAlchemy Core: 100,000 users in seconds, not minutes.
    """
    store.create_schema()
    keyring = KeyRing(SECRET_KEY)
    encrypted = keyring.encrypt(TOTP_SECRET)
    code = keyring.encrypt("aaaaabbbbb")
    now = time.time()
    step = int(now // 30) - 10
    with store.engine.begin() as conn:
        for start in range(0, enrolled, batch):
            ids = range(start, min(start + batch, enrolled))
            conn.execute(
                insert(TwoFactorUser),
                [
                    {"user_id": user_id(n), "enabled_at": now, "last_step": step, "failures": 0, "epoch": 1}
                    for n in ids
                ],
            )
            conn.execute(
                insert(Authenticator),
                [
                    {"user_id": user_id(n), "kind": "totp", "name": "Authenticator app", "secret": encrypted,
                     "sign_count": 0, "transports": "", "created_at": now}
                    for n in ids
                ],
            )
            conn.execute(
                insert(RecoveryCode),
                [
                    {"user_id": user_id(n), "code_hash": secrets.token_hex(32), "code": code, "created_at": now}
                    for n in ids
                    for _ in range(10)
                ],
            )
            conn.execute(
                insert(AccessToken),
                [
                    {"user_id": user_id(n), "name": "bench", "prefix": token_for(n)[:10],
                     "token_hash": tokens.hash_token(token_for(n)), "paths": "[]", "created_at": now,
                     "expires_at": now + 86400}
                    for n in ids
                ],
            )


def plain_user() -> int:
    """A user number beyond any seeded one: signed in, no 2FA row."""
    return 10_000_000 - 1


def session_cookie(app: Flask, n: int) -> str:
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    return serializer.dumps({"user_id": user_id(n), "login_nonce": nonce(n)})


def verified_cookie(middleware: TwoFactorMiddleware, n: int) -> str:
    return middleware.cookies.verified_value(Identity(user_id(n), nonce(n)), 1)


def scenario_headers(app: Flask, middleware: TwoFactorMiddleware, scenario: str, n: int) -> dict[str, str]:
    """The request headers of one scenario for user ``n`` (a plain user for b)."""
    name = app.config["SESSION_COOKIE_NAME"]
    verified = middleware.cookies.verified_name
    if scenario == "a":
        return {}
    if scenario == "b":
        return {"Cookie": f"{name}={session_cookie(app, plain_user())}"}
    if scenario == "c":
        return {"Cookie": f"_ga=GA1.1.123456789.1700000000; theme=dark; {name}={session_cookie(app, n)}; "
                          f"{verified}={verified_cookie(middleware, n)}"}
    if scenario == "d":
        return {"Authorization": f"Bearer {token_for(n)}"}
    if scenario == "e":
        return {"Cookie": f"_ga=GA1.1.123456789.1700000000; theme=dark; {name}={session_cookie(app, n)}"}
    raise ValueError(scenario)


def scenario_environ(app: Flask, middleware: TwoFactorMiddleware, scenario: str, n: int = 0) -> dict[str, Any]:
    headers = {"Accept": "text/html", "User-Agent": "bench", "Host": "127.0.0.1"}
    headers.update(scenario_headers(app, middleware, scenario, n))
    return EnvironBuilder(path="/", headers=headers).get_environ()


def code_now(at: float | None = None) -> str:
    return pyotp.TOTP(TOTP_SECRET).at(int(at if at is not None else time.time()))


def serve_app() -> Any:
    """For gunicorn: ``bench.apps:serve_app()``; ``BENCH_MODE`` is ``bare``, ``wrapped`` or
    ``forward-auth`` (:class:`ForwardAuth` over the wrapped app's middleware, for nginx ``auth_request``)."""
    app = flask_app()
    mode = os.environ.get("BENCH_MODE")
    if mode in ("wrapped", "forward-auth"):
        middleware = wrap(app, SQLAlchemyStore(os.environ["BENCH_DB_URL"], create_schema=False))
        if mode == "forward-auth":
            return ForwardAuth(middleware)
    return app

"""``twofa proxy``: serve the middleware in front of an app that is not Python.

A command of its own module, added to ``twofa`` by :mod:`twofa_middleware.cli`.
It serves with werkzeug's threaded server, which is for trying things out and
small internal deployments; production runs the same app under gunicorn:
``gunicorn -w 4 'twofa_middleware.proxy:app_from_env()'`` (see
:func:`twofa_middleware.proxy.app_from_env` for its environment variables).
"""

from __future__ import annotations

import os

import click

from .store import SQLAlchemyStore


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter("use HOST:PORT, for example 127.0.0.1:8080", param_hint="--listen")
    return host.strip("[]"), int(port)


@click.command("proxy")
@click.option("--upstream", required=True, help="Base URL of the app, e.g. http://127.0.0.1:3000.")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to serve on.")
@click.option("--whoami-path", required=True,
              help="The app's who-am-I endpoint: 200 JSON {\"user\": NAME} when signed in.")
@click.option("--session-cookie", required=True,
              help="Name of the app's session cookie (its value must change at sign-in).")
@click.option("--login-path", required=True, help="The app's JSON login endpoint, used to re-confirm passwords.")
@click.option("--issuer", default="twofa-middleware", show_default=True, help="Name shown in authenticator apps.")
@click.option("--exempt", "exempt_paths", multiple=True, metavar="PATH",
              help="A path (or, ending in '/', a folder) reachable without the second factor; repeatable.")
@click.option("--login-url", envvar="TWOFA_LOGIN_URL", metavar="PATH",
              help="The app's sign-in page: the 2FA pages send signed-out visitors there (with next).")
@click.option("--logout-url", envvar="TWOFA_LOGOUT_URL", metavar="PATH",
              help="The app's sign-out endpoint (POST): the verify page offers it as the way out.")
@click.option("--cookie-secure", is_flag=True, help="Mark the 2FA cookies Secure: behind a TLS-terminating proxy.")
@click.option("--forward-auth", is_flag=True,
              help="Serve the forward-auth endpoint (nginx auth_request, Traefik) instead of proxying.")
@click.pass_obj
def proxy(
    obj: dict[str, str] | None, upstream: str, listen: str, whoami_path: str, session_cookie: str, login_path: str,
    issuer: str, exempt_paths: tuple[str, ...], login_url: str | None, logout_url: str | None, cookie_secure: bool,
    forward_auth: bool,
) -> None:
    """Put two-factor authentication in front of an app that is not Python.

    The secret key comes from TWOFA_SECRET_KEY (required, at least 16 bytes),
    the store from TWOFA_DATABASE_URL. This serves with werkzeug's threaded
    development server; in production run the same app under gunicorn
    (the same settings as TWOFA_* variables, see twofa_middleware.proxy.app_from_env):

    \b
        gunicorn -w 4 'twofa_middleware.proxy:app_from_env()'
    """
    from werkzeug.serving import run_simple

    from .proxy import ForwardAuth, proxy_app

    secret_key = os.environ.get("TWOFA_SECRET_KEY", "")
    if len(secret_key.encode("utf-8")) < 16:
        raise click.ClickException("set TWOFA_SECRET_KEY to a secret of at least 16 bytes")
    url = (obj or {}).get("url") or os.environ.get("TWOFA_DATABASE_URL") or "sqlite:///twofa.db"
    host, port = _listen(listen)
    try:
        app = proxy_app(
            upstream, secret_key=secret_key, store=SQLAlchemyStore(url), whoami_path=whoami_path,
            session_cookie=session_cookie, login_path=login_path, issuer=issuer, exempt_paths=exempt_paths,
            cookie_secure=True if cookie_secure else None, login_url=login_url or None, logout_url=logout_url or None,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"twofa {'forward-auth for' if forward_auth else 'proxy to'} {upstream} on http://{listen}")
    run_simple(host, port, ForwardAuth(app) if forward_auth else app, threaded=True)

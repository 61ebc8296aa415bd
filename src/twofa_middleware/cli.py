"""The ``twofa`` command for operators. The store comes from ``TWOFA_DATABASE_URL``."""

from __future__ import annotations

import importlib
import os
import time

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from .cli_common import JSON_OPTION
from .cli_common import emit as _emit
from .cli_common import open_store as _store
from .cli_import import import_
from .cli_params import USER
from .cli_proxy import proxy
from .cli_tokens import tokens
from .config import Settings
from .crypto import KeyRing
from .errors import NotEnabled, StoreUnavailable
from .identity import NotifyFunc
from .invalidation import announce, user_change
from .service import TwoFactorService
from .store.base import ResetCounts
from .times import rfc3339


class _Command(click.Group):
    """``twofa``: a store that cannot be reached is one clear line and exit code 2, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except StoreUnavailable as exc:
            click.echo(f"twofa: the 2FA database cannot be reached or read ({_where(ctx)}): {exc.message}", err=True)
            ctx.exit(2)


def _where(ctx: click.Context) -> str:
    url = (ctx.obj or {}).get("url", "")
    return make_url(url).render_as_string(hide_password=True) if url else "no database URL"


@click.group(cls=_Command)
@click.option(
    "--database-url",
    envvar="TWOFA_DATABASE_URL",
    default="sqlite:///twofa.db",
    show_default=True,
    help="SQLAlchemy URL of the 2FA store.",
)
@click.pass_context
def main(ctx: click.Context, database_url: str) -> None:
    """Operate twofa-middleware: schema, users' 2FA state, tokens, the security log."""
    ctx.obj = {"url": database_url}


@main.group()
def db() -> None:
    """The database schema."""


@db.command("create")
@click.pass_obj
def db_create(obj: dict[str, str]) -> None:
    """Create the schema (the same as `db upgrade` to the newest revision)."""
    _store(obj["url"], create_schema=False).create_schema()
    click.echo("schema ready")


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_obj
def db_upgrade(obj: dict[str, str], revision: str) -> None:
    """Create the schema or upgrade it to REVISION (default: the newest).

    Safe to run while instances are serving, and from several at once.
    """
    from .store import migrate

    store = _store(obj["url"], create_schema=False)
    try:
        before = migrate.current(store.engine)
        store.upgrade_schema(revision)
        after = migrate.current(store.engine)
    except SQLAlchemyError as exc:  # the migrations talk to the engine directly, not through the store
        raise StoreUnavailable() from exc
    click.echo(f"schema at revision {after}" + (f" (was {before or 'empty'})" if before != after else ""))


@main.command()
@click.argument("user", type=USER)
@JSON_OPTION
@click.pass_obj
def status(obj: dict[str, str], user: str, as_json: bool) -> None:
    """Show a user's 2FA state."""
    store = _store(obj["url"], existing=True)
    state = store.user_state(user)
    data: dict[str, object] = {"user": user, "enabled": state.enabled}
    lines = [f"user: {user}", f"enabled: {'yes' if state.enabled else 'no'}"]
    if state.enabled:
        failures = store.failures(user)
        factors = store.authenticators(user)
        data.update(recovery_codes_left=state.recovery_codes_left, failures=failures,
                    locked_until=rfc3339(state.locked_until),
                    authenticators=[{"id": a.id, "kind": a.kind, "name": a.name,
                                     "last_used_at": rfc3339(a.last_used_at)} for a in factors])
        lines += [f"recovery codes left: {state.recovery_codes_left}", f"wrong codes in a row: {failures}",
                  f"locked until: {rfc3339(state.locked_until) or '-'}", "authenticators:"]
        lines += [f"  {a.id}  {a.kind:<8}  {a.name}  (last used {rfc3339(a.last_used_at) or 'never'})"
                  for a in factors]
    _emit(data, lines, as_json)


@main.command()
@click.argument("user", type=USER)
@click.pass_obj
def unlock(obj: dict[str, str], user: str) -> None:
    """End a user's lockout after wrong codes, and reset the count (the user is still asked for a code)."""
    store = _store(obj["url"], existing=True)
    now = time.time()
    if not store.unlock(user):
        raise click.ClickException(f"{user} is not locked and has no wrong codes counted")
    store.log(user, "unlocked", "by operator", None, now)
    announce(store, Settings(), user_change(user))  # instances caching the lockout drop it at once
    click.echo(f"lockout ended for {user}")


class _NoKeys(KeyRing):
    """The keyring of a service that runs only steps needing no key (the reset): any use is a bug."""

    def __init__(self) -> None:  # no keys to hold
        pass

    def __repr__(self) -> str:
        return "KeyRing(no keys)"

    @property
    def keys(self) -> tuple[bytes, ...]:
        raise RuntimeError("this twofa command holds no secret key")

    def encrypt(self, plaintext: str) -> str:
        raise RuntimeError("this twofa command holds no secret key")

    def decrypt(self, token: str) -> str:
        raise RuntimeError("this twofa command holds no secret key")


def _notify_hook(spec: str | None) -> NotifyFunc | None:
    """``package.module:function``, the app's own notify hook, so users hear of an operator's reset."""
    if not spec:
        return None
    module_name, _, attribute = spec.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), attribute) if attribute else None
    except (ImportError, AttributeError) as exc:
        raise click.UsageError(f"--notify {spec}: {exc}") from exc
    if not callable(hook):
        raise click.UsageError(f"--notify {spec}: not a function (give it as package.module:function)")
    return hook  # type: ignore[no-any-return]


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _reset_lines(user: str, counts: ResetCounts) -> list[str]:
    """One count per kind of credential taken away; a new kind is one more entry here."""
    taken = [
        _counted(counts.tokens_revoked, "personal access token"),
        _counted(counts.browsers_revoked, "trusted browser"),
    ]
    return [f"two-factor authentication turned off for {user}", "revoked: " + ", ".join(taken)]


@main.command()
@click.argument("user", type=USER)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--notify", "notify_spec", envvar="TWOFA_NOTIFY", metavar="MODULE:FUNCTION",
              help="The app's notify(user_id, event) hook, told of the reset ('disabled').")
@JSON_OPTION
@click.pass_obj
def reset(obj: dict[str, str], user: str, yes: bool, notify_spec: str | None, as_json: bool) -> None:
    """Turn a user's 2FA off and revoke their personal access tokens and trusted browsers, in one transaction
    (for a user who lost both phone and recovery codes)."""
    notify = _notify_hook(notify_spec)
    if not yes:
        question = f"Turn off two-factor authentication for {user} and revoke their tokens and trusted browsers?"
        click.confirm(question, abort=True)
    store = _store(obj["url"], existing=True)
    service = TwoFactorService(Settings(), _NoKeys(), store, lambda user_id, password: False, notify)
    try:
        counts = service.reset(user)
    except NotEnabled as exc:
        raise click.ClickException(f"{user} does not have two-factor authentication enabled") from exc
    data = {"user": user, "enabled": False, "tokens_revoked": counts.tokens_revoked,
            "browsers_revoked": counts.browsers_revoked}
    _emit(data, _reset_lines(user, counts), as_json)


@main.command("log")
@click.option("--user", type=USER, help="Only this user's events.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@JSON_OPTION
@click.pass_obj
def log_(obj: dict[str, str], user: str | None, limit: int, as_json: bool) -> None:
    """Print the security log, newest first."""
    events = _store(obj["url"], existing=True).events(user, limit)
    data = [{"at": rfc3339(e.created_at), "user": e.user_id, "event": e.event, "detail": e.detail,
             "remote_addr": e.remote_addr} for e in events]
    lines = [
        f"{rfc3339(e.created_at)}  {e.user_id:<20} {e.event:<28} {e.detail}  {e.remote_addr or ''}".rstrip()
        for e in events
    ]
    _emit(data, lines, as_json)


main.add_command(tokens)
main.add_command(proxy)
main.add_command(import_)

if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(__file__))

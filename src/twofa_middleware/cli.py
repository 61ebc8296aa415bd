"""The ``twofa`` command for operators. The store comes from ``TWOFA_DATABASE_URL``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from .cli_import import import_
from .cli_params import USER
from .cli_proxy import proxy
from .cli_tokens import tokens
from .errors import StoreUnavailable
from .store import SQLAlchemyStore
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


def _store(url: str, *, create_schema: bool = True, existing: bool = False) -> SQLAlchemyStore:
    """The store at ``url``; with ``existing`` (read commands), a SQLite file that is not there
    is an error rather than a new empty database that would report everyone as "no 2FA"."""
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if existing and sqlite_file and not Path(str(parsed.database)).is_file():
        raise click.UsageError(f"no 2FA database at {parsed.database}: set TWOFA_DATABASE_URL or --database-url")
    store = SQLAlchemyStore(url, create_schema=create_schema and not existing)
    context = click.get_current_context(silent=True)
    if context is not None:  # close the pool's connections when the command ends
        context.call_on_close(store.dispose)
    return store


def _emit(data: object, lines: list[str], as_json: bool) -> None:
    """A read command's answer: a JSON document for scripts, or lines for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            click.echo(line)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")


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
    before = migrate.current(store.engine)
    store.upgrade_schema(revision)
    after = migrate.current(store.engine)
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
        data.update(recovery_codes_left=state.recovery_codes_left, failures=failures,
                    locked_until=rfc3339(state.locked_until))
        lines += [f"recovery codes left: {state.recovery_codes_left}", f"wrong codes in a row: {failures}",
                  f"locked until: {rfc3339(state.locked_until) or '-'}"]
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
    click.echo(f"lockout ended for {user}")


@main.command()
@click.argument("user", type=USER)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def reset(obj: dict[str, str], user: str, yes: bool) -> None:
    """Turn a user's 2FA off (for a user who lost both phone and recovery codes)."""
    if not yes:
        click.confirm(f"Turn off two-factor authentication for {user}?", abort=True)
    store = _store(obj["url"], existing=True)
    now = time.time()
    if not store.disable(user, now):
        raise click.ClickException(f"{user} does not have two-factor authentication enabled")
    store.log(user, "disabled", "reset by operator", None, now)
    click.echo(f"two-factor authentication turned off for {user}")


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

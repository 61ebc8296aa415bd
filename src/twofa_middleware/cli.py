"""The ``twofa`` command for operators. The store comes from ``TWOFA_DATABASE_URL``."""

from __future__ import annotations

import os
import time

import click

from .cli_params import USER
from .cli_proxy import proxy
from .cli_tokens import tokens
from .store import SQLAlchemyStore
from .times import rfc3339


def _store(url: str, *, create_schema: bool = True) -> SQLAlchemyStore:
    store = SQLAlchemyStore(url, create_schema=create_schema)
    context = click.get_current_context(silent=True)
    if context is not None:  # close the pool's connections when the command ends
        context.call_on_close(store.dispose)
    return store


@click.group()
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
@click.pass_obj
def status(obj: dict[str, str], user: str) -> None:
    """Show a user's 2FA state."""
    store = _store(obj["url"])
    state = store.user_state(user)
    click.echo(f"user: {user}")
    click.echo(f"enabled: {'yes' if state.enabled else 'no'}")
    if state.enabled:
        click.echo(f"recovery codes left: {state.recovery_codes_left}")
        click.echo(f"wrong codes in a row: {store.failures(user)}")
        click.echo(f"locked until: {rfc3339(state.locked_until) or '-'}")


@main.command()
@click.argument("user", type=USER)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def reset(obj: dict[str, str], user: str, yes: bool) -> None:
    """Turn a user's 2FA off (for a user who lost both phone and recovery codes)."""
    if not yes:
        click.confirm(f"Turn off two-factor authentication for {user}?", abort=True)
    store = _store(obj["url"])
    now = time.time()
    if not store.disable(user, now):
        raise click.ClickException(f"{user} does not have two-factor authentication enabled")
    store.log(user, "disabled", "reset by operator", None, now)
    click.echo(f"two-factor authentication turned off for {user}")


@main.command("log")
@click.option("--user", type=USER, help="Only this user's events.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@click.pass_obj
def log_(obj: dict[str, str], user: str | None, limit: int) -> None:
    """Print the security log, newest first."""
    for event in _store(obj["url"]).events(user, limit):
        click.echo(
            f"{rfc3339(event.created_at)}  {event.user_id:<20} {event.event:<28} "
            f"{event.detail}  {event.remote_addr or ''}".rstrip()
        )


main.add_command(tokens)
main.add_command(proxy)

if __name__ == "__main__":  # pragma: no cover
    main(prog_name=os.path.basename(__file__))

"""What every ``twofa`` command shares: opening the store, and answering people or scripts."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from .store import SQLAlchemyStore


def open_store(url: str, *, create_schema: bool = True, existing: bool = False) -> SQLAlchemyStore:
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


def emit(data: object, lines: list[str], as_json: bool) -> None:
    """A read command's answer: a JSON document for scripts, or lines for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            click.echo(line)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")

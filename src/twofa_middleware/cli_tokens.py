"""``twofa tokens``: issue, list and revoke personal access tokens from the shell.

A group of its own module, added to ``twofa`` by :mod:`twofa_middleware.cli`.
Every step goes through :class:`~twofa_middleware.token_service.TokenService`,
the same steps the pages and the API take.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from .cli_common import JSON_OPTION, emit, open_store
from .cli_params import USER
from .config import Settings
from .errors import StoreUnavailable, TwoFactorError
from .store.base import TokenRecord
from .times import rfc3339
from .token_service import TokenService


@contextmanager
def _service(url: str, *, existing: bool = True) -> Iterator[TokenService]:
    """The token steps on the store at ``url``, their errors as clean command errors
    (an unreachable store goes on to ``twofa``'s one line and exit code 2).

    Tokens are stored hashed, never encrypted or signed: no secret key is needed.
    Only ``create`` may make the database (``existing=False``), as ``db create`` would.
    """
    store = open_store(url, existing=existing)
    try:
        yield TokenService(Settings(), store)
    except StoreUnavailable:
        raise
    except TwoFactorError as exc:
        raise click.ClickException(exc.message) from exc


@click.group()
def tokens() -> None:
    """Personal access tokens."""


@tokens.command("create")
@click.argument("user", type=USER)
@click.option("--name", required=True, help="What the token is for.")
@click.option("--expires-days", default=30, show_default=True, type=int, help="Days until it expires.")
@click.option("--path", "paths", multiple=True, metavar="PREFIX", help="Limit to this path prefix (repeatable).")
@click.pass_obj
def create(obj: dict[str, str], user: str, name: str, expires_days: int, paths: tuple[str, ...]) -> None:
    """Create a token for USER. The token is printed alone on the last line, and only now."""
    with _service(obj["url"], existing=False) as service:
        token_id, token = service.create_token(user, name, expires_days, list(paths))
        record = next(r for r in service.list_tokens(user) if r.id == token_id)
    click.echo(
        f"created token {token_id} {name!r} for {user}, expires {rfc3339(record.expires_at) or 'never'}, "
        f"paths: {' '.join(record.paths) or 'all'}"
    )
    click.echo("Copy it now; it cannot be shown again:", err=True)
    click.echo(token)


@tokens.command("list")
@click.argument("user", type=USER)
@JSON_OPTION
@click.pass_obj
def list_(obj: dict[str, str], user: str, as_json: bool) -> None:
    """List USER's live tokens (never the tokens themselves)."""
    with _service(obj["url"]) as service:
        records = service.list_tokens(user)
    emit([_as_json(r) for r in records], _table(user, records), as_json)


def _as_json(r: TokenRecord) -> dict[str, object]:
    return {"id": r.id, "user": r.user_id, "name": r.name, "prefix": r.prefix, "created_at": rfc3339(r.created_at),
            "expires_at": rfc3339(r.expires_at), "last_used_at": rfc3339(r.last_used_at), "paths": list(r.paths)}


def _table(user: str, records: list[TokenRecord]) -> list[str]:
    if not records:
        return [f"no tokens for {user}"]
    header = f"{'ID':>5}  {'NAME':<24} {'PREFIX':<12} {'CREATED':<20} {'EXPIRES':<20} {'LAST USED':<20} PATHS"
    return [header] + [
        f"{r.id:>5}  {r.name:<24} {r.prefix:<12} {rfc3339(r.created_at):<20} {rfc3339(r.expires_at) or '-':<20} "
        f"{rfc3339(r.last_used_at) or '-':<20} {' '.join(r.paths) or 'all'}"
        for r in records
    ]


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=click.IntRange(1, 2**63 - 1))
@click.pass_obj
def revoke(obj: dict[str, str], token_id: int) -> None:
    """Revoke token ID at once (other running instances drop it within their cache time)."""
    with _service(obj["url"]) as service:
        record = service.revoke_token(token_id, None)
    click.echo(f"revoked token {record.id} {record.name!r} of {record.user_id}")

"""``twofa import``: move users' TOTP secrets in from another system, keeping their apps.

A command of its own module, added to ``twofa`` by :mod:`twofa_middleware.cli`.
Rows are checked by :mod:`twofa_middleware.importing` and written by
:meth:`~twofa_middleware.service.TwoFactorService.import_totp`, one user at a time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from . import importing
from .cli_common import open_store
from .config import Settings
from .crypto import KeyRing
from .errors import StoreUnavailable, TwoFactorError
from .service import TwoFactorService

_DEVICES = text(
    "SELECT id, name, user_id, key, step, t0, digits, last_t FROM otp_totp_totpdevice"
    " WHERE confirmed ORDER BY id"
)


def _hidden(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _django_rows(ctx: click.Context, url: str) -> list[dict[str, object]]:
    """The confirmed devices of ``otp_totp_totpdevice``; exit code 2 when they cannot be read."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise click.UsageError("--django-otp-url is not a database URL") from None
    if parsed.get_backend_name() == "sqlite" and not Path(str(parsed.database or "")).is_file():
        click.echo(f"twofa: no django-otp database at {parsed.database}", err=True)
        ctx.exit(2)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return [dict(row) for row in connection.execute(_DEVICES).mappings()]
    except SQLAlchemyError as exc:
        click.echo(f"twofa: the django-otp database cannot be reached or read ({_hidden(url)}): "
                   f"{type(exc).__name__}", err=True)
        ctx.exit(2)
    finally:
        engine.dispose()
    raise AssertionError("not reached")  # pragma: no cover - ctx.exit raises


def _keyring() -> KeyRing:
    secret_key = os.environ.get("TWOFA_SECRET_KEY", "")
    if len(secret_key.encode("utf-8")) < 16:
        raise click.UsageError("set TWOFA_SECRET_KEY to the app's secret key (secrets are stored encrypted with it)")
    return KeyRing(secret_key)


@click.command("import")
@click.argument("csv_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--django-otp-url", metavar="URL", help="Read django-otp's otp_totp_totpdevice table from this database.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--digits", default=Settings.totp_digits, show_default=True, type=int, help="The app's totp_digits.")
@click.option("--period", default=Settings.totp_period, show_default=True, type=int, help="The app's totp_period.")
@click.option("--algorithm", default=Settings.totp_algorithm, show_default=True, help="The app's totp_algorithm.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
@click.pass_context
def import_(ctx: click.Context, csv_file: Path | None, django_otp_url: str | None, dry_run: bool,
            digits: int, period: int, algorithm: str, as_json: bool) -> None:
    """Turn 2FA on for users who already have it elsewhere, with the secret their app holds.

    CSV_FILE has one `user_id,otpauth://totp/...` row per user (a `user_id,uri`
    header is optional). Or read django-otp's confirmed TOTP devices with
    --django-otp-url. A user who already has 2FA with the same secret is left as
    is, so running twice is safe. Exit code 1 when any row was refused. The
    secret key comes from TWOFA_SECRET_KEY (not needed for --dry-run).
    """
    if (csv_file is None) == (django_otp_url is None):
        raise click.UsageError("give either CSV_FILE or --django-otp-url")
    try:
        settings = Settings(totp_digits=digits, totp_period=period, totp_algorithm=algorithm.upper(), cache_seconds=0)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    keyring = None if dry_run else _keyring()
    if csv_file is not None:
        try:
            with csv_file.open(encoding="utf-8-sig", newline="") as f:
                outcomes = importing.read_csv(f, settings)
        except UnicodeDecodeError:
            raise click.UsageError(f"{csv_file} is not UTF-8 text") from None
        except importing.Refused as exc:
            raise click.UsageError(f"{csv_file} cannot be read as CSV: {exc}") from None
    else:
        outcomes = importing.read_django_otp(_django_rows(ctx, str(django_otp_url)), settings)
    rows = _run(ctx, outcomes, settings, keyring)
    _report(rows, dry_run, as_json)
    if any(r["result"] == "refused" for r in rows):
        ctx.exit(1)


def _run(ctx: click.Context, outcomes: list[importing.Outcome], settings: Settings,
         keyring: KeyRing | None) -> list[dict[str, str]]:
    """Each row's result; with no keyring (a dry run) the store is only read."""
    store = open_store(ctx.obj["url"], existing=keyring is None)
    service = None if keyring is None else TwoFactorService(settings, keyring, store, lambda user_id, password: False)
    rows: list[dict[str, str]] = []
    for o in outcomes:
        if isinstance(o, importing.Refusal):
            rows.append({"where": o.where, "user": o.user, "result": "refused", "reason": o.reason})
        elif service is None:
            result = "2FA already on" if store.user_state(o.user_id).enabled else "would import"
            rows.append({"where": o.where, "user": o.user_id, "result": result})
        else:
            try:
                result = service.import_totp(o.user_id, o.secret, o.name, o.last_step)
            except StoreUnavailable:
                raise
            except TwoFactorError as exc:
                rows.append({"where": o.where, "user": o.user_id, "result": "refused", "reason": exc.message})
                continue
            rows.append({"where": o.where, "user": o.user_id, "result": result})
    return rows


def _report(rows: list[dict[str, str]], dry_run: bool, as_json: bool) -> None:
    results = ("would import", "2FA already on") if dry_run else ("imported", "already imported")
    counts = {name: sum(r["result"] == name for r in rows) for name in (*results, "refused")}
    if as_json:
        click.echo(json.dumps({"dry_run": dry_run, "counts": counts, "rows": rows}, indent=2))
        return
    summary = ", ".join(f"{name} {n}" for name, n in counts.items())
    click.echo(("dry run, nothing written: " if dry_run else "") + summary)
    for r in rows:
        if r["result"] == "refused":
            click.echo(f"refused {r['where']}, user {r['user'] or '(none valid)'}: {r['reason']}")

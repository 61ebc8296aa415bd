"""``twofa import --django-otp-url`` with the 2FA store and django-otp's table in one
database, as a Django site that moves in has them: SQLite and PostgreSQL alike."""

from __future__ import annotations

import base64
import time

import pyotp
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from twofa_middleware.cli import main
from twofa_middleware.store import SQLAlchemyStore

from .helpers import KEY, make_service

SECRETS = ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]


def test_django_otp_devices_move_in_from_the_same_database(db_url):
    engine = create_engine(db_url)
    with engine.begin() as c:
        c.execute(text(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY, name varchar(64) NOT NULL,"
            " confirmed boolean NOT NULL, user_id integer NOT NULL, key varchar(80) NOT NULL, step smallint NOT NULL,"
            " t0 bigint NOT NULL, digits smallint NOT NULL, tolerance smallint NOT NULL, drift smallint NOT NULL,"
            " last_t bigint NOT NULL, throttling_failure_timestamp timestamp NULL,"
            " throttling_failure_count integer NOT NULL)"))
        for device_id, (secret, confirmed) in enumerate(zip(SECRETS, (True, False), strict=True), start=1):
            c.execute(text(
                "INSERT INTO otp_totp_totpdevice VALUES (:id, 'phone', :confirmed, :id, :key, 30, 0, 6, 1, 0, -1,"
                " NULL, 0)"), {"id": device_id, "confirmed": confirmed, "key": base64.b32decode(secret).hex()})
    engine.dispose()
    env = {"TWOFA_DATABASE_URL": db_url, "TWOFA_SECRET_KEY": KEY}
    for expected in ("imported 1, already imported 0", "imported 0, already imported 1"):
        result = CliRunner().invoke(main, ["import", "--django-otp-url", db_url], env=env)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(expected)
    store = SQLAlchemyStore(db_url)
    try:
        service = make_service(store)
        assert service.verify("1", pyotp.TOTP(SECRETS[0]).at(time.time())) == "totp"
        assert not service.state("2").enabled
    finally:
        store.dispose()

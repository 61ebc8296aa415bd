"""``twofa import``: users move in with the secret their app already holds, from a CSV
of otpauth:// URIs or from django-otp's table, on a real SQLite store."""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path

import pyotp
import pytest
from click.testing import CliRunner, Result

from twofa_middleware.cli import main
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import CodeReused, InvalidCode
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore
from twofa_middleware.testing import FixedClock

from .helpers import KEY, T0

ALICE = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
BOB = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/twofa.db"


def run(db_url: str, *args: str, key: str | None = KEY) -> Result:
    env = {"TWOFA_DATABASE_URL": db_url, "TWOFA_SECRET_KEY": key}
    return CliRunner().invoke(main, list(args), env=env)


def service(db_url: str, clock: FixedClock | None = None) -> TwoFactorService:
    return TwoFactorService(Settings(cache_seconds=0), KeyRing(KEY), SQLAlchemyStore(db_url),
                            lambda user_id, password: False, clock=clock or FixedClock(T0))


def write_csv(tmp_path: Path, *rows: str) -> str:
    path = tmp_path / "secrets.csv"
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return str(path)


def uri(secret: str, extra: str = "") -> str:
    return f"otpauth://totp/Old:someone?secret={secret}&issuer=Old{extra}"


def test_a_csv_imports_each_user_and_a_second_run_imports_none(tmp_path, db_url):
    csv_file = write_csv(tmp_path, "user_id,uri", f"alice,{uri(ALICE)}", f"bob,{uri(BOB)}")
    first = run(db_url, "import", csv_file)
    assert first.exit_code == 0, first.output
    assert first.output == "imported 2, already imported 0, refused 0\n"
    again = run(db_url, "import", csv_file)
    assert again.exit_code == 0 and again.output == "imported 0, already imported 2, refused 0\n"
    s = service(db_url)
    try:
        for user, secret in (("alice", ALICE), ("bob", BOB)):
            state = s.state(user)
            assert state.enabled and state.recovery_codes_left == 10
            assert s.verify(user, pyotp.TOTP(secret).at(T0)) == "totp"
        assert [e.event for e in s.store.events("alice")] == ["verified", "imported"]
        assert s.store.events("alice")[1].detail == "Old"
    finally:
        s.store.dispose()


def test_refused_rows_are_listed_without_secrets_and_exit_1(tmp_path, db_url):
    csv_file = write_csv(tmp_path, f"alice,{uri(ALICE)}", f"bob,{uri(BOB, '&algorithm=SHA512')}",
                         f"carol,{uri('NOT-BASE32!')}", f"alice,{uri(ALICE)}", f"dave,{uri(BOB, '&digits=8')}")
    result = run(db_url, "import", csv_file)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "imported 1, already imported 0, refused 4",
        "refused line 2, user bob: algorithm SHA512, configured SHA1",
        "refused line 3, user carol: secret is not valid base32",
        "refused line 4, user alice: duplicate of line 1",
        "refused line 5, user dave: 8 digits, configured 6",
    ]
    assert ALICE not in result.output and BOB not in result.output


def test_a_user_with_2fa_on_gets_another_secret_as_one_more_authenticator(tmp_path, db_url):
    s = service(db_url)
    try:
        assert s.import_totp("alice", BOB, "phone") == "imported"
        result = run(db_url, "import", write_csv(tmp_path, f"alice,{uri(ALICE)}", f"bob,{uri(BOB)}"))
        assert (result.exit_code, result.output) == (0, "imported 2, already imported 0, refused 0\n")
        assert [a.name for a in s.authenticators("alice")] == ["phone", "Old"]
        assert s.state("alice").recovery_codes_left == 10  # the first import's codes stay
        assert s.verify("alice", pyotp.TOTP(BOB).at(T0)) == "totp"
        assert s.verify("alice", pyotp.TOTP(ALICE).at(T0 + 30)) == "totp"
    finally:
        s.store.dispose()


def test_json_and_dry_run_write_nothing(tmp_path, db_url):
    assert run(db_url, "db", "create").exit_code == 0
    csv_file = write_csv(tmp_path, f"alice,{uri(ALICE)}", f"bob,{uri(BOB, '&period=60')}")
    dry = run(db_url, "import", "--dry-run", "--json", csv_file, key=None)
    assert dry.exit_code == 1, dry.output
    assert json.loads(dry.output) == {
        "dry_run": True,
        "counts": {"would import": 1, "2FA already on": 0, "refused": 1},
        "rows": [{"where": "line 1", "user": "alice", "result": "would import"},
                 {"where": "line 2", "user": "bob", "result": "refused",
                  "reason": "60 second period, configured 30"}],
    }
    s = service(db_url)
    try:
        assert not s.state("alice").enabled and s.store.events() == []
    finally:
        s.store.dispose()
    real = run(db_url, "import", "--json", csv_file)
    assert json.loads(real.output)["counts"] == {"imported": 1, "already imported": 0, "refused": 1}
    assert "2FA already on 1" in run(db_url, "import", "--dry-run", csv_file, key=None).output


def test_without_the_secret_key_nothing_is_imported(tmp_path, db_url):
    result = run(db_url, "import", write_csv(tmp_path, f"alice,{uri(ALICE)}"), key=None)
    assert result.exit_code == 2 and "TWOFA_SECRET_KEY" in result.output
    assert not Path(db_url.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-source"),
        pytest.param(["x.csv", "--django-otp-url", "sqlite:///x.db"], id="two-sources"),
        pytest.param(["missing.csv"], id="missing-csv"),
        pytest.param(["--django-otp-url", "not a url"], id="bad-url"),
        pytest.param(["--django-otp-url", "sqlite:///x.db", "--digits", "7"], id="bad-settings"),
        pytest.param(["huge.csv"], id="not-csv"),
        pytest.param(["latin1.csv"], id="not-utf8"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path, db_url, args, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("")
    (tmp_path / "huge.csv").write_text("alice," + "A" * 200_000 + "\n")
    (tmp_path / "latin1.csv").write_bytes("user_id,uri\nren\xe9,otpauth://totp/x\n".encode("latin-1"))
    result = run(db_url, "import", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def django_otp_db(path: Path, *devices: tuple[object, ...]) -> str:
    """django-otp's otp_totp_totpdevice table as its migrations create it, without Django."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE otp_totp_totpdevice (id integer PRIMARY KEY AUTOINCREMENT, name varchar(64) NOT NULL,"
            " confirmed bool NOT NULL, user_id integer NOT NULL, key varchar(80) NOT NULL,"
            " step smallint unsigned NOT NULL, t0 bigint NOT NULL, digits smallint unsigned NOT NULL,"
            " tolerance smallint unsigned NOT NULL, drift smallint NOT NULL, last_t bigint NOT NULL,"
            " throttling_failure_timestamp datetime NULL, throttling_failure_count integer unsigned NOT NULL)"
        )
        db.executemany(
            "INSERT INTO otp_totp_totpdevice (name, confirmed, user_id, key, step, t0, digits, tolerance, drift,"
            " last_t, throttling_failure_timestamp, throttling_failure_count) VALUES (?,?,?,?,30,0,?,1,0,?,NULL,0)",
            devices,
        )
    db.close()
    return f"sqlite:///{path}"


def hex_of(secret: str) -> str:
    return base64.b32decode(secret).hex()


def test_django_otp_confirmed_devices_move_in_with_their_replay_guard(tmp_path, db_url):
    step = int(T0) // 30
    url = django_otp_db(
        tmp_path / "django.db",
        ("phone", True, 1, hex_of(ALICE), 6, step),  # alice used the current code on the old site
        ("tablet", False, 2, hex_of(BOB), 6, -1),  # never confirmed: not imported
        ("old", True, 3, hex_of(BOB), 8, -1),
    )
    result = run(db_url, "import", "--django-otp-url", url)
    assert result.exit_code == 1
    assert result.output.splitlines() == ["imported 1, already imported 0, refused 1",
                                          "refused device 3, user 3: 8 digits, configured 6"]
    s = service(db_url)
    try:
        assert not s.state("2").enabled
        with pytest.raises(CodeReused):  # spent on the old site: not again here
            s.verify("1", pyotp.TOTP(ALICE).at(T0))
        assert s.verify("1", pyotp.TOTP(ALICE).at(T0 + 30)) == "totp"
        assert s.store.events("1")[-1].detail == "phone"
    finally:
        s.store.dispose()
    assert "already imported 1" in run(db_url, "import", "--django-otp-url", url).output


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=1", id="unreachable"),
        pytest.param("sqlite:///{tmp}/missing.db", id="missing-file"),
        pytest.param("sqlite:///{tmp}/empty.db", id="no-table"),
    ],
)
def test_a_django_otp_database_that_cannot_be_read_is_one_line_and_exit_code_2(tmp_path, db_url, url):
    sqlite3.connect(tmp_path / "empty.db").close()
    url = url.format(tmp=tmp_path)
    result = run(db_url, "import", "--django-otp-url", url)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "django-otp database" in lines[0]
    assert "secret" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "missing.db").exists()


def test_an_unreachable_2fa_database_is_exit_code_2(tmp_path):
    result = run("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=1", "import",
                 write_csv(tmp_path, f"alice,{uri(ALICE)}"))
    assert result.exit_code == 2 and "cannot be reached" in result.output
    assert ALICE not in result.output and "Traceback" not in result.output


def test_importing_again_leaves_the_wrong_code_count_and_lock_as_they_were(tmp_path, db_url):
    clock = FixedClock(time.time())  # the command below runs on the real clock
    s = service(db_url, clock)
    try:
        assert s.import_totp("alice", ALICE, "phone") == "imported"
        totp = pyotp.TOTP(ALICE)
        near = {totp.at(clock() + 30 * d) for d in range(-25, 26)}
        wrong = next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in near)
        for _ in range(5):
            with pytest.raises(InvalidCode):  # the fifth locks
                s.verify("alice", wrong)
        locked_until = s.state("alice").locked_until
        assert locked_until is not None
        result = run(db_url, "import", write_csv(tmp_path, f"alice,{uri(ALICE)}"))
        assert (result.exit_code, result.output) == (0, "imported 0, already imported 1, refused 0\n")
        assert s.store.failures("alice") == 5 and s.state("alice").locked_until == locked_until
    finally:
        s.store.dispose()

def test_the_csv_in_the_readme_imports_as_it_is(tmp_path, db_url):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```csv\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme.csv").write_text(block, encoding="utf-8")
    result = run(db_url, "import", str(tmp_path / "readme.csv"))
    assert (result.exit_code, result.output) == (0, "imported 2, already imported 0, refused 0\n")

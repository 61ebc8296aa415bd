"""Moving in, end to end: secrets an old system gave its users' apps (played by Debian's
``oathtool``) are imported with ``twofa import``, and those users then sign in to the
Flask example on a real loopback server with the codes their apps already show."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

from click.testing import CliRunner

from tests.helpers import SECRET_KEY, alert_of, missing_part
from twofa_middleware.cli import main

from .flows import PASSWORD, is_challenged, sign_in, sign_out, verify

PERIOD = 30


def oathtool(secret: str, at: float) -> str:
    """The code ``oathtool --totp -b`` prints for ``secret`` at the time ``at``."""
    out = subprocess.run(["oathtool", "--totp", "-b", "--now", f"@{int(at)}", secret],
                         check=True, capture_output=True, text=True, timeout=10).stdout.strip()
    assert len(out) == 6 and out.isdigit(), f"oathtool printed {out!r}"
    return out


def test_imported_users_sign_in_with_the_codes_their_apps_already_show(live_app, tmp_path: Path):
    if shutil.which("oathtool") is None:
        missing_part("Debian's oathtool not found (apt-get install oathtool)")
    users = {"alice": base64.b32encode(os.urandom(20)).decode(), "bob": base64.b32encode(os.urandom(20)).decode()}
    for name, secret in users.items():
        live_app.app.extensions["example_users"].create(name, PASSWORD)  # accounts that exist before 2FA moves in
        oathtool(secret, time.time())  # a secret the independent generator takes
    csv_file = tmp_path / "from-old-site.csv"
    csv_file.write_text("user_id,otpauth_uri\n" + "".join(
        f"{name},otpauth://totp/Old%20Site:{name}?secret={secret}&issuer=Old%20Site&algorithm=SHA1&digits=6\n"
        for name, secret in users.items()), encoding="utf-8")
    env = {"TWOFA_DATABASE_URL": live_app.db_url, "TWOFA_SECRET_KEY": SECRET_KEY}

    imported = CliRunner().invoke(main, ["import", str(csv_file)], env=env)
    assert imported.exit_code == 0, imported.output
    assert imported.output == "imported 2, already imported 0, refused 0\n"
    assert all(secret not in imported.output for secret in users.values())

    for name, secret in users.items():
        s = live_app.session()
        sign_in(live_app, s, name)
        assert is_challenged(live_app, s)  # 2FA is on for them now
        code = oathtool(secret, time.time())
        assert verify(live_app, s, code).status_code == 303
        assert not is_challenged(live_app, s)
        assert f"Signed in as <strong>{name}</strong>" in s.get(live_app.url + "/settings").text
        sign_out(live_app, s)
        sign_in(live_app, s, name)
        again = verify(live_app, s, code)
        assert again.status_code == 409 and "already used" in alert_of(again.text)
        assert is_challenged(live_app, s)

    second = CliRunner().invoke(main, ["import", str(csv_file)], env=env)
    assert second.output == "imported 0, already imported 2, refused 0\n"

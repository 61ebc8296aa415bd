"""Two gunicorn processes of the Flask example, sharing PostgreSQL for 2FA state
and one SQLite file for the example's own users: one truth across instances."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.invalidation import start_instance, wait_ready
from bench.server import stop_group
from examples.flask_app.app import UserStore
from tests.helpers import SECRET_KEY
from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.service import TwoFactorService
from twofa_middleware.store import SQLAlchemyStore

from .helpers import PASSWORD, enroll, wrong_code
from .web import Browser

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
CACHE_SECONDS = 2.0


@dataclass
class Instances:
    urls: list[str]
    service: TwoFactorService  # the test's own view of the shared store, as a third instance
    users: UserStore

    def user(self, name: str) -> str:
        self.users.create(name, PASSWORD)
        return name



@pytest.fixture
def instances(pg_url: str, tmp_path: Path) -> Iterator[Instances]:
    users = UserStore(str(tmp_path / "users.db"))
    users.init_schema()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TWOFA_DATABASE_URL": pg_url,
        "EXAMPLE_USERS_DB": users.path,
        "SECRET_KEY": SECRET_KEY,
        "TWOFA_CACHE_SECONDS": str(CACHE_SECONDS),
    }
    processes: list[subprocess.Popen[bytes]] = []
    store = SQLAlchemyStore(pg_url)
    try:
        urls = []
        for _ in range(2):
            process, url = start_instance(env, threads=16)
            processes.append(process)
            urls.append(url)
        for process, url in zip(processes, urls, strict=True):
            wait_ready(process, url)
        service = TwoFactorService(Settings(), KeyRing(SECRET_KEY), store, lambda u, p: p == PASSWORD)
        yield Instances(urls, service, users)
    finally:
        for process in processes:
            stop_group(process)
        store.dispose()


def signed_in(url: str, user: str) -> Browser:
    browser = Browser(url)
    browser.sign_in(user)
    return browser


def test_a_code_used_on_one_instance_is_refused_on_the_other(instances):
    user = instances.user("alice")
    authenticator, _ = enroll(instances.service, user)
    code = authenticator.at(time.time() + 30)  # unused: enrollment spent the current step
    a, b = (signed_in(url, user) for url in instances.urls)
    csrf_a, csrf_b = a.verify_form(), b.verify_form()
    assert a.submit_code(csrf_a, code).status_code == 303
    refused = b.submit_code(csrf_b, code)
    assert refused.status_code == 409 and "already used" in refused.text
    assert a.get("/settings").status_code == 200
    assert b.get("/settings").status_code == 303  # still owes the second factor


@pytest.mark.parametrize("kind, sessions", [("totp", 10), ("recovery", 30)])
def test_one_code_from_many_sessions_across_both_instances_works_once(instances, kind, sessions):
    user = instances.user("alice")
    authenticator, recovery_codes = enroll(instances.service, user)
    code = authenticator.at(time.time() + 30) if kind == "totp" else recovery_codes[0]
    browsers = [signed_in(instances.urls[i % 2], user) for i in range(sessions)]
    forms = [b.verify_form() for b in browsers]
    barrier = threading.Barrier(sessions)
    statuses: list[int] = [0] * sessions

    def submit(i: int) -> None:
        barrier.wait()
        statuses[i] = browsers[i].submit_code(forms[i], code).status_code

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert statuses.count(303) == 1, statuses
    # A spent time step says "already used" (409); a spent recovery code is just not valid (400).
    refused = {"totp": 409, "recovery": 400}[kind]
    assert set(statuses) - {303} <= {refused, 429}, statuses


def test_a_lockout_on_one_instance_holds_on_the_other(instances):
    user = instances.user("alice")
    authenticator, _ = enroll(instances.service, user)
    a, b = (signed_in(url, user) for url in instances.urls)
    csrf = a.verify_form()
    statuses = [a.submit_code(csrf, wrong_code(authenticator)).status_code for _ in range(5)]
    assert statuses[-1] == 400 and set(statuses) == {400}
    assert a.submit_code(csrf, authenticator.at(time.time() + 30)).status_code == 429
    # The other instance refuses even the right code, and says why.
    locked = b.verify(authenticator.at(time.time() + 30))
    assert locked.status_code == 429 and "Too many wrong codes" in locked.text
    assert b.get("/settings").status_code == 303


def test_2fa_disabled_on_one_instance_is_seen_by_the_other_within_the_cache_time(instances):
    user = instances.user("alice")
    authenticator, _ = enroll(instances.service, user)
    a, b = (signed_in(url, user) for url in instances.urls)
    assert a.verify(authenticator.at(time.time() + 30)).status_code == 303
    assert b.get("/settings").status_code == 303  # B has cached "2FA on" for this user
    a.disable_2fa()
    disabled_at = time.monotonic()
    assert a.get("/settings").status_code == 200
    while b.get("/settings").status_code != 200:
        # The cache time, plus slack for a loaded machine.
        assert time.monotonic() - disabled_at < CACHE_SECONDS + 2.0, "B still asks for the second factor"
        time.sleep(0.05)

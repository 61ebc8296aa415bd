"""The Django example on a real WSGI server on loopback, once per test process.

Django's settings are process-wide, so one example serves every Django test;
each test uses its own user names. Django's ORM refuses to run on a thread
where an event loop runs (Playwright's sync API keeps one on the main thread),
so everything that touches Django here runs on a worker thread.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tests.helpers import SECRET_KEY, LiveApp, serve

T = TypeVar("T")


def off_loop(fn: Callable[[], T]) -> T:
    """``fn()`` on a fresh thread, for Django calls made by the test itself."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@functools.cache
def live_django() -> LiveApp:
    return off_loop(_start)


def _start() -> LiveApp:
    data = tempfile.mkdtemp(prefix="twofa-django-tests-")
    db_url = f"sqlite:///{data}/twofa.db"
    patch = {
        "DJANGO_SETTINGS_MODULE": "examples.django_app.settings",
        "EXAMPLE_DATA_DIR": data,
        "SECRET_KEY": SECRET_KEY,
        "TWOFA_DATABASE_URL": db_url,
    }
    saved = {name: os.environ.get(name) for name in patch}
    os.environ.update(patch)
    try:
        from django.conf import settings

        from examples.django_app.wsgi import application, prepare

        # The tests' only change to the example: a fast hasher (PBKDF2's cost, per sign-in, adds up to seconds).
        settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
        prepare()
        from twofa_middleware.integrations.django.core import twofa

        middleware = twofa()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    url, server, thread = serve(application)

    def stop() -> None:
        server.shutdown()  # type: ignore[attr-defined]
        thread.join(5)
        middleware.service.store.dispose()
        shutil.rmtree(data, ignore_errors=True)

    atexit.register(stop)
    return LiveApp(url, application, middleware, db_url)


def restore_clock(live: LiveApp) -> Callable[[], None]:
    """Undo a test's ``use_clock`` (the server outlives the test)."""
    service: Any = live.middleware.service  # type: ignore[attr-defined]
    clock = service.clock

    def restore() -> None:
        service.clock = clock

    return restore

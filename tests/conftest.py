"""Shared fixtures: the Flask example served on loopback by a real HTTP server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LiveApp, live_example, missing_part

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _local_postgres_answers() -> bool:
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=2).close()
    except Exception:  # noqa: BLE001 - any failure means: no local server to use
        return False
    return True


# `make test` on a machine with PostgreSQL runs the PostgreSQL tests: the local
# server is used when TWOFA_TEST_DATABASE_URL is not set and one answers there.
if not os.environ.get("TWOFA_TEST_DATABASE_URL") and _local_postgres_answers():
    os.environ["TWOFA_TEST_DATABASE_URL"] = LOCAL_POSTGRES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One loud line at the end naming what was skipped and why: a skip never passes quietly."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: dict[str, int] = {}
    for report in skipped:
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    summary = "; ".join(f"{count} x {reason}" for reason, count in sorted(reasons.items()))
    terminalreporter.write_line(f"SKIPPED {len(skipped)} TESTS: {summary}", red=True, bold=True)


@pytest.fixture
def live_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    """A fresh Flask example with its own SQLite files, on a real server.

    The example's forms carry Flask-WTF's CSRF token: the browser tests fill them
    with it on; the HTTP tests post them without scraping it, so it is off there."""
    with live_example(tmp_path, WTF_CSRF_ENABLED=request.node.get_closest_marker("browser") is not None) as live:
        yield live


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Debian chromium per session, for tests/browser and tests/examples alike
    (Playwright's sync API runs once per thread: two session browsers cannot coexist)."""
    from tests.browser.helpers import launch, missing_parts

    missing = missing_parts()
    if missing:
        missing_part("browser tests need " + "; ".join(missing))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("TWOFA_TEST_DATABASE_URL")
    if not url:
        missing_part("PostgreSQL not configured: set TWOFA_TEST_DATABASE_URL")
    return url  # type: ignore[return-value]

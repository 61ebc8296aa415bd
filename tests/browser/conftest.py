"""Browser fixtures: fresh contexts per test on the session's one Debian chromium
(the ``browser`` fixture, in tests/conftest.py: the example contract suite uses it too).

Every context a test opens records each request its pages make; when the test
ends, any request to a host other than the app's own fails it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.helpers import LiveApp

from .helpers import DESKTOP, foreign_requests


@pytest.fixture
def requested_urls() -> list[str]:
    """Every URL requested by the pages of this test's contexts."""
    return []


@pytest.fixture
def new_context(
    browser: Browser, live_app: LiveApp, requested_urls: list[str]
) -> Iterator[Callable[..., BrowserContext]]:
    """Open a browser context on the live app (desktop size unless told)."""
    opened: list[BrowserContext] = []

    def open_context(**options: Any) -> BrowserContext:
        options.setdefault("base_url", live_app.url)
        options.setdefault("viewport", DESKTOP)
        options.setdefault("accept_downloads", True)
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        context.on("request", lambda request: requested_urls.append(request.url))
        opened.append(context)
        return context

    yield open_context
    for context in opened:
        context.close()
    if opened:
        assert requested_urls, "no request was recorded: the same-origin check saw nothing"
    foreign = foreign_requests(requested_urls, live_app.url)
    assert not foreign, f"the browser contacted hosts other than the app's own: {foreign}"


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    return new_context().new_page()

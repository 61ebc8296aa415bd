"""Theming as a browser shows it: the Flask example's 2FA pages in its own layout and
colours, and the built-in frame restyled by an app's custom properties and by dark mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.helpers import SECRET_KEY, LiveApp, serve
from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware

from .helpers import PASSWORD, register

pytestmark = pytest.mark.browser

BUILT_IN_GREEN = "rgb(26, 127, 55)"  # --tf-accent's default
EXAMPLE_BLUE = "rgb(9, 105, 218)"  # the example's --accent, which its app.css gives --tf-accent
EXAMPLE_BRAND = "rgb(59, 42, 140)"  # its header bar


def style(page: Page, selector: str, prop: str, pseudo: str | None = None) -> str:
    return page.locator(selector).first.evaluate(
        "(el, [prop, pseudo]) => getComputedStyle(el, pseudo).getPropertyValue(prop)", [prop, pseudo]
    )


def header_of(page: Page) -> dict[str, object]:
    header = page.locator("header.site-header")
    expect(header.get_by_role("link", name="Example App")).to_be_visible()
    nav = header.get_by_role("navigation", name="Main")
    return {
        "links": nav.get_by_role("link").all_inner_texts(),
        "background": style(page, "header.site-header", "background-color"),
        "stylesheets": page.locator('link[rel="stylesheet"][href="/static/app.css"]').count(),
    }


# -- the Flask example: its layout, its colours ---------------------------------------------------


def test_the_example_s_2fa_pages_carry_its_own_header_nav_and_stylesheet(page: Page) -> None:
    register(page, "alice", PASSWORD)
    apps_own = header_of(page)  # /settings, an app page
    assert apps_own == {"links": ["Home", "Settings"], "background": EXAMPLE_BRAND, "stylesheets": 1}

    page.goto("/_2fa/setup")  # the middleware's password page
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    assert header_of(page) == apps_own
    expect(page.locator("header.site-header").get_by_text("Signed in as alice")).to_be_visible()
    assert page.locator(".tf-header").count() == 0  # not the built-in frame
    assert page.title() == "Confirm your password · Example App"
    assert style(page, "main", "background-color") == "rgb(255, 255, 255)"  # the app's .card
    assert page.locator("main").get_attribute("class") == "card"


def test_the_example_s_custom_properties_recolour_the_2fa_buttons(page: Page) -> None:
    register(page, "alice", PASSWORD)
    page.goto("/_2fa/setup")
    button = page.get_by_role("button", name="Confirm password")
    expect(button).to_be_visible()
    assert button.evaluate("el => getComputedStyle(el).backgroundColor") == EXAMPLE_BLUE
    assert button.evaluate("el => getComputedStyle(el).fontFamily").startswith("system-ui")


def test_a_light_only_layout_stays_light_in_dark_mode(new_context: Callable[..., BrowserContext]) -> None:
    page = new_context(color_scheme="dark").new_page()
    register(page, "alice", PASSWORD)
    page.goto("/_2fa/setup")
    expect(page.get_by_role("heading", name="Confirm your password")).to_be_visible()
    assert style(page, "body", "background-color") == "rgb(246, 248, 250)"
    assert page.get_by_role("button", name="Confirm password").evaluate(
        "el => getComputedStyle(el).backgroundColor"
    ) == EXAMPLE_BLUE


# -- the built-in frame, restyled by an app's stylesheet ------------------------------------------

BRAND_CSS = b""":root {
  --tf-header-bg: #5a1e8c;
  --tf-logo: url("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 2 1'%3E%3C/svg%3E");
  --tf-logo-width: 3rem;
}
"""


def _brand_app(environ, start_response):  # the app: its stylesheet, and one page
    if environ["PATH_INFO"] == "/static/brand.css":
        start_response("200 OK", [("Content-Type", "text/css")])
        return [BRAND_CSS]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the app"]


class TestTheBuiltInFrame:
    @pytest.fixture
    def live_app(self, tmp_path: Path) -> Iterator[LiveApp]:
        """The middleware's own frame, with the app's twofa_theme.html linking brand.css."""
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "twofa_theme.html").write_text(
            '<link rel="stylesheet" href="/static/brand.css">'
        )
        db_url = f"sqlite:///{tmp_path}/twofa.db"
        store = SQLAlchemyStore(db_url)
        middleware = TwoFactorMiddleware(
            _brand_app, secret_key=SECRET_KEY, store=store, identify=lambda environ: Identity("alice", "n1"),
            check_password=lambda user, password: False, issuer="Acme", exempt_paths=("/static/",),
            template_folder=str(tmp_path / "templates"),
        )
        url, server, thread = serve(middleware)
        try:
            yield LiveApp(url, middleware, middleware, db_url)
        finally:
            server.shutdown()  # type: ignore[attr-defined]
            thread.join(5)
            store.dispose()

    def open(self, new_context: Callable[..., BrowserContext], scheme: str) -> Page:
        page = new_context(color_scheme=scheme).new_page()
        page.goto("/_2fa/")
        expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        return page

    def test_dark_mode_follows_the_system(self, new_context: Callable[..., BrowserContext]) -> None:
        light, dark = self.open(new_context, "light"), self.open(new_context, "dark")
        assert style(light, "body", "background-color") == "rgb(246, 248, 250)"
        assert style(dark, "body", "background-color") == "rgb(13, 17, 23)"
        assert style(light, ".tf-card", "background-color") == "rgb(255, 255, 255)"
        assert style(dark, ".tf-card", "background-color") == "rgb(21, 27, 35)"
        assert style(dark, "h1", "color") == "rgb(230, 237, 243)"

    @pytest.mark.parametrize("scheme", ["light", "dark"])
    def test_the_app_s_properties_win_in_both_schemes(
        self, new_context: Callable[..., BrowserContext], scheme: str
    ) -> None:
        page = self.open(new_context, scheme)
        assert style(page, ".tf-header", "background-color") == "rgb(90, 30, 140)"
        logo = (style(page, ".tf-brand", "width", "::before"), style(page, ".tf-brand", "background-image", "::before"))
        assert logo[0] == "48px" and logo[1].startswith('url("data:image/svg+xml')
        expect(page.locator(".tf-brand")).to_have_text("Acme")  # the name stays, for screen readers too

"""Arabic reads right to left as a person sees it in chromium, and the pages of long-worded
German fit a 320-pixel phone: measured on the rendered boxes, not read from the markup.

The verify page in Arabic is compared with the same page in English: the heading and the
label start at the right edge of the card, the code field and the primary button sit where
the English ones sit, mirrored; a code reads left to right all the same. Both the built-in
frame and the example's own layout (the app's stylesheet, not the middleware's) are checked.
(test_accessibility checks every state in Arabic and German at 320 pixels for sideways scrolling.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.helpers import LiveApp, live_example

from .helpers import (
    PASSWORD,
    Authenticator,
    _,
    code_field,
    enroll,
    has_horizontal_scroll,
    overflowing,
    recovery_codes_on_page,
    register,
    sign_in,
    sign_out,
    speaking,
    start_setup,
)

pytestmark = pytest.mark.browser

PHONE_320 = {"width": 320, "height": 640}


@pytest.fixture(params=["built-in frame", "app layout"])
def live_app(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveApp]:
    """The Flask example with the 2FA pages in the middleware's own frame, or in the app's layout."""
    with live_example(tmp_path, TWOFA_APP_LAYOUT=request.param == "app layout") as live:
        yield live


# Where things are drawn: the card's content box, and the boxes of the text and controls in it.
BOXES = """() => {
  const box = el => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right}; };
  const text = el => { const range = document.createRange(); range.selectNodeContents(el);
                       return box(range); };
  const card = document.querySelector("main");
  const style = getComputedStyle(card);
  const outer = card.getBoundingClientRect();
  return {
    card: {left: outer.left + parseFloat(style.borderLeftWidth) + parseFloat(style.paddingLeft),
           right: outer.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight)},
    heading: text(card.querySelector("h1")),
    label: text(card.querySelector("label[for=code]")),
    field: box(document.getElementById("code")),
    button: box(card.querySelector("form button[type=submit]")),
  };
}"""


def at_verify(new_context: Callable[..., BrowserContext], language: str, user: str) -> Page:
    """A user enrolled and signed in again, on the verify page, reading ``language``."""
    page = new_context(locale=language).new_page()
    with speaking(language):
        register(page, user, PASSWORD)
        enroll(page, PASSWORD)
        sign_out(page)
        sign_in(page, user, PASSWORD)
        expect(page.get_by_role("heading", name=_("Two-factor authentication"))).to_be_visible()
        expect(code_field(page)).to_be_visible()
    return page


def direction(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("el => getComputedStyle(el).direction"))


def from_start(boxes: dict[str, Any], name: str, rtl: bool) -> float:
    """How far ``name`` begins from the card's start edge: the left one in English, the right one in Arabic."""
    card, part = boxes["card"], boxes[name]
    return float(card["right"] - part["right"]) if rtl else float(part["left"] - card["left"])


def test_the_arabic_verify_page_is_the_english_one_mirrored(new_context: Callable[..., BrowserContext]) -> None:
    english = at_verify(new_context, "en", "alice")
    arabic = at_verify(new_context, "ar", "bob")
    expect(arabic.locator("html")).to_have_attribute("dir", "rtl")
    for selector in ("body", "main", "h1", "label[for=code]", "form"):
        assert direction(arabic, selector) == "rtl", f"{selector} is not laid out right to left"
        assert direction(english, selector) == "ltr"

    en, ar = english.evaluate(BOXES), arabic.evaluate(BOXES)
    for name in ("heading", "label", "field", "button"):
        assert abs(from_start(en, name, rtl=False)) < 1, f"English {name} does not start at the left: {en}"
        assert abs(from_start(ar, name, rtl=True)) < 1, f"Arabic {name} does not start at the right: {ar}"
    # Boxes of the same width (the field's) are mirror images of each other across the card.
    assert abs((en["field"]["right"] - en["field"]["left"]) - (ar["field"]["right"] - ar["field"]["left"])) < 1
    assert ar["field"]["left"] - ar["card"]["left"] == pytest.approx(en["card"]["right"] - en["field"]["right"], abs=1)
    assert ar["button"]["left"] > ar["card"]["left"] + (ar["card"]["right"] - ar["card"]["left"]) / 2, (
        "the Arabic primary button is not in the right half of its row"
    )

    # The code field reads left to right: "123 456" is not shown as "456 123".
    assert direction(arabic, "#code") == "ltr"
    for page in (english, arabic):
        page.set_viewport_size(PHONE_320)
        assert not has_horizontal_scroll(page), f"the verify page scrolls sideways at 320 px: {overflowing(page)}"


# The first and the last character of an element's text, where they are drawn.
ENDS = """el => {
  const node = [...el.childNodes].find(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
  const text = node.textContent; const start = text.search(/\\S/); const end = text.trimEnd().length - 1;
  const at = i => { const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
                    return r.getBoundingClientRect().left; };
  return [at(start), at(end)];
}"""


def test_keys_and_codes_read_left_to_right_on_an_arabic_page(new_context: Callable[..., BrowserContext]) -> None:
    page = new_context(locale="ar").new_page()
    with speaking("ar"):
        register(page, "alice", PASSWORD)
        setup = start_setup(page, PASSWORD)
        key = page.locator("#manual-key")
        first, last = key.evaluate(ENDS)
        assert first < last, "the key's first character is drawn right of its last"
        assert key.inner_text().replace(" ", "") == setup.secret
        code_field(page).fill(Authenticator(setup.secret).code())
        page.get_by_role("button", name=_("Next")).click()
        expect(page.get_by_role("heading", name=_("Save your recovery codes"))).to_be_visible()
        codes = page.locator("#recovery-codes li code")
        assert codes.count() == len(recovery_codes_on_page(page)) > 0
        for i in range(codes.count()):
            first, last = codes.nth(i).evaluate(ENDS)
            assert first < last, f"recovery code {codes.nth(i).inner_text()} is drawn right to left"


def test_a_long_german_word_would_scroll_the_phone_page_sideways(new_context: Callable[..., BrowserContext]) -> None:
    """The reflow check can fail: without the stylesheet's word breaking, German's
    "Wiederherstellungscodes" sticks out of a 320-pixel screen."""
    page = new_context(locale="de", viewport=PHONE_320).new_page()
    with speaking("de"):
        register(page, "alice", PASSWORD)
        setup = start_setup(page, PASSWORD)
        code_field(page).fill(Authenticator(setup.secret).code())
        page.get_by_role("button", name=_("Next")).click()
        heading = page.get_by_role("heading", name=_("Save your recovery codes"))
        expect(heading).to_be_visible()
    assert not has_horizontal_scroll(page), overflowing(page)
    heading.evaluate("el => { el.style.overflowWrap = 'normal'; }")
    assert has_horizontal_scroll(page)

"""twofa.css's colour properties keep WCAG AA contrast in light and dark, and README documents
every --tf- property with its default.

Contrast as WCAG 2.2 defines it (relative luminance of sRGB): 4.5:1 for text, 3:1 for the
parts that identify a control (borders of fields and buttons, the focus ring).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSS = (ROOT / "src/twofa_middleware/web/static/twofa.css").read_text()
README = (ROOT / "README.md").read_text()

TEXT = [  # (foreground, background) pairs the pages draw text with
    ("text", "surface"), ("text", "bg"), ("muted", "surface"), ("muted", "bg"),
    ("link", "surface"), ("link", "bg"), ("accent-text", "accent"), ("danger", "surface"),
    ("danger", "bg"), ("success", "surface"), ("text", "error-bg"), ("text", "warning-bg"),
    ("text", "notice-bg"), ("header-text", "header-bg"),
]
CONTROLS = [  # what shows where a control is and which one has focus
    ("border", "surface"), ("border", "bg"), ("focus", "surface"), ("focus", "bg"), ("accent", "surface"),
]


def properties(block: str) -> dict[str, str]:
    return dict(re.findall(r"--tf-([a-z-]+):\s*([^;]+);", block))


def schemes() -> dict[str, dict[str, str]]:
    light = properties(CSS[CSS.index(":where(:root) {") : CSS.index("}", CSS.index(":where(:root) {"))])
    dark_start = CSS.index("@media (prefers-color-scheme: dark)")
    dark = properties(CSS[dark_start : CSS.index("}", dark_start)])
    assert set(dark) <= set(light), f"dark-only properties: {set(dark) - set(light)}"
    colours = {name for name, value in light.items() if value.startswith("#")}
    assert colours - set(dark) == set(), f"colours without a dark value: {colours - set(dark)}"
    return {"light": light, "dark": {**light, **dark}}


def luminance(colour: str) -> float:
    assert re.fullmatch(r"#[0-9a-f]{6}", colour), f"write colours as #rrggbb: {colour}"
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("pairs, least", [(TEXT, 4.5), (CONTROLS, 3.0)], ids=["text", "controls"])
def test_every_colour_pair_keeps_wcag_aa_contrast(scheme, pairs, least):
    values = schemes()[scheme]
    low = {f"{fg} on {bg}": round(contrast(values[fg], values[bg]), 2) for fg, bg in pairs}
    assert all(ratio >= least for ratio in low.values()), f"{scheme}: below {least}:1: " + str(
        {pair: ratio for pair, ratio in low.items() if ratio < least}
    )


def test_the_contrast_check_catches_a_pale_colour():
    assert contrast("#1f2328", "#ffffff") > 15
    assert contrast("#aaaaaa", "#ffffff") < 3


def test_readme_documents_every_property_with_its_defaults():
    rows = re.findall(r"^\| `--tf-([a-z-]+)` \| `([^`]+)` \| (?:`([^`]+)`|same) \|", README, re.MULTILINE)
    light, dark = schemes()["light"], schemes()["dark"]
    assert {name for name, _, _ in rows} == set(light), "README's property table and twofa.css differ"
    for name, light_default, dark_default in rows:
        assert (light_default, dark_default or light_default) == (light[name], dark[name]), f"--tf-{name}"

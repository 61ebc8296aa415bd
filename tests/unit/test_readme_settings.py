"""README's settings table names every field of Settings, with its default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from twofa_middleware.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_settings_table_lists_every_setting_and_its_default() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", README.read_text(), re.MULTILINE))
    for field in dataclasses.fields(Settings):
        assert field.name in rows, f"README's settings table lacks {field.name}"
        default = field.default
        shown = "none" if default is None else f"`{default}`" if isinstance(default, str) else f"`{default!r}`"
        assert rows[field.name].strip() == shown, field.name

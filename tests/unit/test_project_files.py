"""The project files say true things: one version, a changelog entry for it, every test marker documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import twofa_middleware

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_written_once_and_has_a_changelog_entry() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "twofa_middleware.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", twofa_middleware.__version__)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    release = rf"^## \[{re.escape(twofa_middleware.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$"
    assert re.search(release, changelog, re.MULTILINE)


def test_contributing_says_how_to_run_every_marked_part_of_the_suite() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    markers = [line.split(":", 1)[0] for line in project["tool"]["pytest"]["ini_options"]["markers"]]
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert [m for m in markers if f"-m {m}" not in contributing] == []
    for target in ("make test", "make lint", "make bench"):
        assert target in contributing

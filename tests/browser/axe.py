"""axe-core in the page: the accessibility check of tests/browser/test_accessibility.py.

axe-core comes from npm at the version pinned in tests/browser/package-lock.json
(``make test`` runs ``npm ci --prefix tests/browser``). Our pages send a strict CSP
that refuses inline and injected scripts, so the source goes in through
``page.evaluate``: DevTools evaluation is not subject to the page's CSP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.helpers import missing_part

AXE_SOURCE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe files 2.2's level-A rules under wcag2a/wcag21a).
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _source() -> str:
    if not AXE_SOURCE.exists():
        missing_part("axe-core not installed (npm ci --prefix tests/browser, or make test)")
    return AXE_SOURCE.read_text(encoding="utf-8")


def violations(page: Page) -> list[dict[str, Any]]:
    """The WCAG 2.2 AA violations axe finds in the page as it is now."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_source())
    result = page.evaluate(
        "tags => window.axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_AA,
    )
    return list(result["violations"])


def report(found: list[dict[str, Any]]) -> str:
    """One block per violation: rule, impact, what it asks, and each offending element."""
    lines = []
    for v in found:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}  [{v['helpUrl']}]")
        for node in v["nodes"]:
            target = " ".join(" > ".join(t) if isinstance(t, list) else str(t) for t in node["target"])
            lines.append(f"    at {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"       {summary}")
    return "\n".join(lines)


def assert_no_violations(page: Page, state: str) -> None:
    found = violations(page)
    assert not found, f"axe found {len(found)} WCAG 2.2 AA violation(s) on {state} ({page.url}):\n" + report(found)

"""An app's notify hook, for ``twofa reset --notify tests.unit.cli_notify:notify``."""

from __future__ import annotations

NOTIFIED: list[tuple[str, str]] = []


def notify(user_id: str, event: str) -> None:
    NOTIFIED.append((user_id, event))


NOT_A_FUNCTION = 42

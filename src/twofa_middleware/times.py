"""The one format a time is shown in, by the CLI, the pages and the API alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def rfc3339(ts: float) -> str: ...
@overload
def rfc3339(ts: float | None) -> str | None: ...


def rfc3339(ts: float | None) -> str | None:
    """A Unix time as RFC 3339 in UTC to the second (``2026-01-31T12:00:00Z``). None stays
    None, for each caller to show as it shows "never" (``null`` in JSON, ``-`` in a table)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

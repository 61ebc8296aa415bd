"""Helpers shared by the unit tests (an explicit module: no test imports another or a conftest)."""

from __future__ import annotations

KEY = "unit-test-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
# A time in the middle of a 30-second step, so step arithmetic is unambiguous.
T0 = 1_700_000_015.0

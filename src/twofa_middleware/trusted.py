"""Trusted browsers ("Remember this browser"): the cookie's secret, its hash, and a label.

The cookie carries a record id and 256 random bits; the store keeps only the
SHA-256 of those bits. The label ("Firefox on Linux") is read from the
User-Agent for the user's list only: it decides nothing, so a forged
User-Agent only mislabels the forger's own record.
"""

from __future__ import annotations

import hashlib
import re
import secrets

SECRET_BYTES = 32

# Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", and so on.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chromium", re.compile(r"\bChromium/")),
    ("Chrome", re.compile(r"\b(?:HeadlessChrome|Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """What the store keeps: 256 random bits need no salt nor a slow hash."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def label(user_agent: str | None) -> str:
    """"Firefox on Linux", "Safari on iOS"; "Unknown browser" when it says nothing we know."""
    ua = (user_agent or "")[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(ua)), "Unknown browser")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(ua)), None)
    return f"{browser} on {system}" if system else browser

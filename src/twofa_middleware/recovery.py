"""Recovery codes: generation, the shape users see, and normalising what they type."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from .i18n import N_

# No 0/o, 1/l/i: nothing a person could misread when copying from paper.
ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
LENGTH = 10
_IGNORED = re.compile(r"[\s-]+")
_MAX_INPUT = 64


def generate(count: int) -> list[str]:
    """``count`` distinct codes, each ``LENGTH`` characters (about 49 bits)."""
    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(secrets.choice(ALPHABET) for _ in range(LENGTH)))
    return sorted(codes)


def display(code: str) -> str:
    """``xxxxx-xxxxx``, the form shown, downloaded and copied."""
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalise(raw: object) -> str | None:
    """The bare code, ignoring case, spaces and dashes; None if it cannot be one."""
    if not isinstance(raw, str) or len(raw) > _MAX_INPUT:
        return None
    code = _IGNORED.sub("", raw).lower()
    if len(code) != LENGTH or not code.isascii() or any(c not in ALPHABET for c in code):
        return None
    return code


def as_text(codes: list[str], issuer: str, account: str, gettext: Callable[[str], str] = str) -> str:
    """The downloadable .txt file; ``gettext``: the user's language's (English by default)."""
    lines = [
        gettext(N_("%(issuer)s recovery codes for %(account)s")) % {"issuer": issuer, "account": account},
        "",
        gettext(N_("Each code can be used once to sign in if you lose your authenticator app. "
                   "Keep them somewhere safe.")),
        "",
        *(display(c) for c in codes),
        "",
    ]
    return "\n".join(lines)

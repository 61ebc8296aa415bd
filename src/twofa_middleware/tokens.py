"""Personal access tokens: ``tfa_`` + 256 random bits + a CRC32 checksum, in base62.

The prefix and checksum let secret scanners recognise a leaked token without a
database; only a SHA-256 hash of the token is ever stored.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

from .inputs import is_text

PREFIX = "tfa_"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY = 43  # 62**43 > 2**256
_CHECK = 6  # 62**6 > 2**32
LENGTH = len(PREFIX) + _BODY + _CHECK
_ALLOWED = frozenset(_BASE62)


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK)


def mint() -> str:
    """A new token. Show it once; store only :func:`hash_token` of it."""
    body = _base62(secrets.randbits(256), _BODY)
    return PREFIX + body + _checksum(body)


def is_well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum hold: worth a look-up."""
    if len(token) != LENGTH or not token.startswith(PREFIX):
        return False
    rest = token[len(PREFIX) :]
    if not _ALLOWED.issuperset(rest):
        return False
    body, check = rest[:_BODY], rest[_BODY:]
    return secrets.compare_digest(_checksum(body), check)


def hash_token(token: str) -> str:
    """What the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


# A new key in every process: what the in-memory token cache is keyed by. The keyed
# state is made once and copied per token: a keyed BLAKE2s hashes the key as a
# block of its own, so the copy saves a third of the cost (same digest).
_CACHE_KEY = secrets.token_bytes(32)
_KEYED = hashlib.blake2s(key=_CACHE_KEY)


def cache_key(token: str) -> bytes:
    """What the in-memory cache keys a token by: a keyed BLAKE2s, so no token is
    kept in memory, and cheaper per request than :func:`hash_token` (SHA-256
    through OpenSSL costs the wrapped app a few percent more on the hot path)."""
    digest = _KEYED.copy()
    digest.update(token.encode("ascii"))
    return digest.digest()


def display_prefix(token: str) -> str:
    """The start of a token, enough for its owner to recognise it in a list."""
    return token[: len(PREFIX) + 6]


def normalise_paths(paths: object) -> tuple[str, ...] | None:
    """Path prefixes a token is limited to; None when the value is not a list of local paths."""
    if paths is None:
        return ()
    if not isinstance(paths, (list, tuple)) or len(paths) > 20:
        return None
    out = []
    for path in paths:
        if (
            not isinstance(path, str)
            or not path.startswith("/")
            or path.startswith("//")
            or len(path) > 200
            or any(c.isspace() for c in path)
            or not is_text(path)
        ):
            return None
        out.append(path)
    return tuple(out)


def path_allowed(path: str, prefixes: tuple[str, ...]) -> bool:
    """An empty list allows every path; ``/api`` allows ``/api`` and ``/api/...`` only."""
    if not prefixes:
        return True
    for prefix in prefixes:
        bare = prefix.rstrip("/")
        if path == bare or path.startswith(bare + "/") or (bare == "" and path.startswith("/")):
            return True
    return False

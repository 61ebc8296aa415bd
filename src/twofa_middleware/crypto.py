"""Keys derived from the app's secret key: encryption at rest and keyed hashes.

Rotation works as in itsdangerous: give a list of keys, newest first. New data
is encrypted and hashed with the newest key; data written under an older key is
still read, so a rotation needs no migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache
from typing import Generic, TypeVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SecretKey = str | bytes
_T = TypeVar("_T")


def _as_bytes(key: SecretKey) -> bytes:
    return key.encode("utf-8") if isinstance(key, str) else bytes(key)


@lru_cache(maxsize=256)
def derive_key(secret_key: SecretKey, purpose: str) -> bytes:
    """32 bytes for one purpose, so no two uses ever share a key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"twofa-middleware", info=purpose.encode()
    ).derive(_as_bytes(secret_key))


class Secret(Generic[_T]):
    """Hides its value from repr and str, so a key never lands in a traceback or log."""

    __slots__ = ("_value",)

    def __init__(self, value: _T) -> None:
        self._value = value

    def reveal(self) -> _T:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__


class KeyRing:
    """The app's secret keys, newest first, and what is derived from them."""

    def __init__(self, secret_keys: SecretKey | Sequence[SecretKey]) -> None:
        keys = [secret_keys] if isinstance(secret_keys, (str, bytes)) else list(secret_keys)
        if not keys:
            raise ValueError("secret_key must not be empty")
        for key in keys:
            if len(_as_bytes(key)) < 16:
                raise ValueError("every secret key must be at least 16 bytes long")
        self._keys = Secret(tuple(_as_bytes(k) for k in keys))
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(derive_key(k, "twofa.encryption"))) for k in self.keys]
        )

    def __repr__(self) -> str:
        return f"KeyRing({len(self.keys)} keys)"

    @property
    def keys(self) -> tuple[bytes, ...]:
        return self._keys.reveal()

    def signing_keys(self) -> list[bytes]:
        """For itsdangerous, which signs with the *last* key of its list."""
        return [derive_key(k, "twofa.signing") for k in reversed(self.keys)]

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Raises ``ValueError`` when no key of the ring opens the value."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise ValueError("the value was not encrypted with any of the configured keys") from exc

    def mac(self, purpose: str, message: str) -> str:
        """Keyed hash under the newest key, for values stored to be looked up later."""
        return self.macs(purpose, message)[0]

    def macs(self, purpose: str, message: str) -> list[str]:
        """The keyed hash under every key, newest first, to find values stored before a rotation."""
        data = message.encode("utf-8")
        return [
            hmac.new(derive_key(k, purpose), data, hashlib.sha256).hexdigest() for k in self.keys
        ]

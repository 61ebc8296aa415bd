"""Helpers shared by the unit tests (an explicit module: no test imports another or a conftest)."""

from __future__ import annotations

import time

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

KEY = "unit-test-secret-key-0123456789"
PASSWORD = "correct horse battery staple"
# A time in the middle of a 30-second step, so step arithmetic is unambiguous.
T0 = 1_700_000_015.0


def signed_long_ago(keys: list[bytes], salt: str, payload: object, age: int) -> str:
    """A value signed ``age`` seconds ago, with the real keys: genuinely expired, not forged."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return URLSafeTimedSerializer(keys, salt=salt, signer=PastSigner).dumps(payload)

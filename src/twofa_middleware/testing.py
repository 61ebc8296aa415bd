"""Helpers for app owners' own tests: get past the second factor without a phone.

.. code-block:: python

    from twofa_middleware.testing import verified_cookie
    name, value = verified_cookie(app.extensions["twofa"], Identity("alice", nonce))
    client.set_cookie(name, value)
"""

from __future__ import annotations

from dataclasses import dataclass

from .identity import Identity
from .middleware import TwoFactorMiddleware


def verified_cookie(middleware: TwoFactorMiddleware, identity: Identity) -> tuple[str, str]:
    """``(name, value)`` of a cookie saying this sign-in passed the second factor."""
    epoch = middleware.service.state(identity.user_id).epoch
    return middleware.cookies.verified_name, middleware.cookies.verified_value(identity, epoch)


@dataclass
class FixedClock:
    """A clock to pass as ``clock=``: it stands still until you move it."""

    now: float = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

"""Drop-in TOTP two-factor authentication for any WSGI application."""

__version__ = "0.1.0"  # the package version: pyproject.toml reads it from here

from .config import Settings as Settings
from .events import event_label as event_label
from .identity import Identity as Identity
from .identity import TwoFactorInfo as TwoFactorInfo
from .middleware import TwoFactorMiddleware as TwoFactorMiddleware
from .store import SQLAlchemyStore as SQLAlchemyStore

__all__ = ["Identity", "SQLAlchemyStore", "Settings", "TwoFactorInfo", "TwoFactorMiddleware", "event_label"]

"""Persistence: the store protocol, its records, and the SQLAlchemy store."""

from .base import AttemptResult as AttemptResult
from .base import Store as Store
from .base import TokenRecord as TokenRecord
from .base import UserState as UserState
from .sqlalchemy import SQLAlchemyStore as SQLAlchemyStore

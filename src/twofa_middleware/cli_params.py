"""Command-line values checked like every other input (:mod:`twofa_middleware.inputs`)."""

from __future__ import annotations

from typing import Any

import click

from .errors import InvalidRequest
from .inputs import text


class UserId(click.ParamType[str]):
    """A user id as the app names it: clean text of at most 255 characters (the column's size).

    A command line mis-decoded into lone surrogates, or a name with control
    characters, is a usage error (exit 2), never a traceback or a query.
    """

    name = "user"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            user = text(value, "not a valid user id", max_length=255, normalise=False)
        except InvalidRequest as exc:
            self.fail(exc.message, param, ctx)
        if not user:
            self.fail("not a valid user id", param, ctx)
        return user


USER = UserId()

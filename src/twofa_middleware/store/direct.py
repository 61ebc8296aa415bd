"""Core statements run on a pooled connection's own DB-API cursor: the verification's hot path.

SQLAlchemy still builds every statement (and the schema, and the migrations) and
compiles it, once per statement and dialect. What this module leaves out is its
per-execute and per-transaction work (the execution context, the result object,
the events), about 30 µs a statement on SQLite against 3 µs for the bare driver,
which a verification of four statements otherwise pays four times over.

Values are bound in the compiled statement's own order and parameter style, each
through its column type's bind processor (a :class:`~.models.Timestamp` becomes
what the driver stores, as under SQLAlchemy); rows come back through the result
processors. Any error rolls the transaction back; a dropped connection is taken
out of the pool.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, cast

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

# How a transaction begins, where the driver does not begin it itself (psycopg
# does, before the first statement). SQLite: take the write lock up front, so
# concurrent verifications serialise (the engine's own ``begin`` event does the same).
_BEGIN = {"sqlite": "BEGIN IMMEDIATE"}

_Bind = tuple[str | None, Callable[[Any], Any] | None, Any]  # (value's name or None, processor, fixed value)


class Compiled:
    """One Core statement compiled for one dialect: its SQL, how to bind its values, how to read its rows."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)  # noqa: S101 - for the type checker: Core statements compile so
        if compiled.post_compile_params or compiled.literal_execute_params:
            # Such values (an expanding IN) are rendered into the SQL per execution: not run here.
            raise ValueError("a statement with values rendered at execution cannot be compiled once")
        self.sql = compiled.string
        self.positional = compiled.positional
        names = compiled.positiontup if compiled.positional else list(dict.fromkeys(compiled.bind_names.values()))
        self._names = tuple(names or ())
        # One name may stand for several parameters (a value used twice): the typed one says how it
        # is bound (in a multi-row INSERT only the first row's are typed by their columns).
        processors: dict[str, Callable[[Any], Any]] = {}
        for param, key in compiled.bind_names.items():
            processor = param.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.setdefault(key, processor)
        self._binds: list[_Bind] = []
        for name in self._names:
            bind, process = compiled.binds[name], processors.get(name)
            if bind.required:
                self._binds.append((name, process, None))
            else:  # a value fixed in the statement (a LIMIT's): processed once, here
                value = bind.effective_value
                self._binds.append((None, None, process(value) if process is not None else value))
        columns = getattr(statement, "selected_columns", ())
        self._results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        self._make: Callable[[Iterable[Any]], Any] | None = (
            cast(Any, namedtuple("Row", [c.key for c in columns], rename=True))._make if columns else None
        )

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for ``values`` (by bind name): a tuple or a dict, as its style wants."""
        try:
            bound = [
                fixed if name is None else values[name] if process is None else process(values[name])
                for name, process, fixed in self._binds
            ]
        except Exception as exc:
            # As SQLAlchemy reports a value its types cannot bind (the values left out: they may be secret).
            raise StatementError("a value could not be bound", self.sql, None, exc) from exc
        return tuple(bound) if self.positional else dict(zip(self._names, bound, strict=True))

    def rows(self, raw: list[Any]) -> list[Any]:
        """The driver's rows, through the result processors, with the selected columns' names."""
        make, results = self._make, self._results
        assert make is not None  # noqa: S101 - only a SELECT has rows
        if not any(results):
            return [make(r) for r in raw]
        return [make(v if p is None else p(v) for p, v in zip(results, r, strict=True)) for r in raw]


@lru_cache(maxsize=256)
def compiled(statement: ClauseElement, dialect: Dialect) -> Compiled:
    """Compiled once per statement and dialect (the cache keeps the statement alive)."""
    return Compiled(statement, dialect)


class Transaction:
    """The statements of one transaction, on the checked-out connection's cursor."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> int:
        """Run ``statement``; the rows it changed (its ``rowcount``)."""
        run = compiled(statement, self.dialect)
        self._cursor.execute(run.sql, run.params(values))
        return int(self._cursor.rowcount)

    def rows(self, statement: ClauseElement, values: Mapping[str, Any]) -> list[Any]:
        """Run a SELECT; its rows, as named tuples of the selected columns."""
        run = compiled(statement, self.dialect)
        self._cursor.execute(run.sql, run.params(values))
        return run.rows(self._cursor.fetchall())


@contextmanager
def transaction(engine: Engine) -> Iterator[Transaction]:
    """One transaction on a connection from ``engine``'s pool: committed when the block
    ends, rolled back when it raises (the error then propagates as it was raised).

    Errors are the driver's own (``dialect.loaded_dbapi.Error``), or SQLAlchemy's
    for a failed checkout or a value that cannot be bound; the caller maps them.
    """
    dialect = engine.dialect
    connection = engine.raw_connection()
    driver = connection.dbapi_connection
    assert driver is not None  # noqa: S101 - a connection just checked out is live
    cursor = None
    try:
        cursor = connection.cursor()
        begin = _BEGIN.get(dialect.name)
        if begin is not None:
            cursor.execute(begin)
        yield Transaction(cursor, dialect)
        driver.commit()
    except BaseException as exc:
        _roll_back(dialect, connection, driver, cursor, exc)
        raise
    finally:
        if cursor is not None:
            cursor.close()
        connection.close()  # back to the pool (or, invalidated, to be replaced)


def _roll_back(dialect: Dialect, connection: Any, driver: Any, cursor: Any, exc: BaseException) -> None:
    """Undo what the transaction wrote; a connection that is gone, or that cannot roll
    back, is invalidated so that no later checkout gets it half-way through a transaction."""
    errors = dialect.loaded_dbapi.Error
    gone = isinstance(exc, errors) and dialect.is_disconnect(exc, driver, cursor)
    if not gone:
        try:
            driver.rollback()
        except errors:
            gone = True
    if gone:
        connection.invalidate(exc if isinstance(exc, Exception) else None)

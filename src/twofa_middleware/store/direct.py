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

import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, NoReturn, cast

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import StatementError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeEngine

# How a transaction begins, where the driver does not begin it itself (psycopg
# does, before the first statement). SQLite: take the write lock up front, so
# concurrent verifications serialise (the engine's own ``begin`` event does the same).
_BEGIN = {"sqlite": "BEGIN IMMEDIATE"}

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
            processor = _bind_processor(param.type, dialect)
            if processor is not None:
                processors.setdefault(key, processor)
        # Values fixed in the statement (a LIMIT's) are bound as given ones are.
        self._fixed = {
            name: compiled.binds[name].effective_value for name in self._names if not compiled.binds[name].required
        }
        self._processors = tuple((i, processors[n]) for i, n in enumerate(self._names) if n in processors)
        columns = getattr(statement, "selected_columns", ())
        results = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        self._results = tuple((i, p) for i, p in enumerate(results) if p is not None)
        self._make: Callable[[Iterable[Any]], Any] | None = (
            cast(Any, namedtuple("Row", [c.key for c in columns], rename=True))._make if columns else None
        )

    def params(
        self, values: Mapping[str, Any], done: dict[tuple[_Processor, type[Any], Any], Any]
    ) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for ``values`` (by bind name): a tuple or a dict, as its style wants.
        ``done`` keeps the values processed so far (in this transaction): a time bound in
        several statements is converted once."""
        if self._fixed:
            values = {**self._fixed, **values}
        try:
            bound = [values[name] for name in self._names]
            for i, process in self._processors:
                key = (process, type(bound[i]), bound[i])  # 1 and True are equal keys, not equal values
                try:
                    bound[i] = done[key]
                except KeyError:
                    bound[i] = done[key] = process(bound[i])
                except TypeError:  # a value that is no key (a list): processed every time
                    bound[i] = process(bound[i])
        except Exception as exc:
            # As SQLAlchemy reports a value its types cannot bind (the values left out: they may be secret).
            raise StatementError("a value could not be bound", self.sql, None, exc) from exc
        return tuple(bound) if self.positional else dict(zip(self._names, bound, strict=True))

    def rows(self, raw: list[Any]) -> list[Any]:
        """The driver's rows, through the result processors, with the selected columns' names."""
        make, results = self._make, self._results
        assert make is not None  # noqa: S101 - only a SELECT has rows
        if not results:
            return [make(r) for r in raw]
        rows = []
        for r in raw:
            values = list(r)
            for i, process in results:
                values[i] = process(values[i])
            rows.append(make(values))
        return rows


_Processor = Callable[[Any], Any]
_PROCESSORS: weakref.WeakKeyDictionary[Dialect, dict[tuple[type[Any], str], _Processor | None]] = (
    weakref.WeakKeyDictionary()
)


def _bind_processor(kind: TypeEngine[Any], dialect: Dialect) -> _Processor | None:
    """The type's bind processor for the dialect, one for equal types (the same class and
    arguments, so the same repr): then one value bound to two columns of one type is
    one key in a transaction's processed values."""
    shared = _PROCESSORS.setdefault(dialect, {})
    key = (type(kind), repr(kind))
    if key not in shared:
        shared[key] = kind.dialect_impl(dialect).bind_processor(dialect)
    return shared[key]


@lru_cache(maxsize=256)
def compiled(statement: ClauseElement, dialect: Dialect) -> Compiled:
    """Compiled once per statement and dialect (the cache keeps the statement alive)."""
    return Compiled(statement, dialect)


class Transaction:
    """One transaction on a connection from ``engine``'s pool, as a ``with`` block:
    committed when the block ends, rolled back when it raises.

    ``translate`` names what a failure becomes (called with the error after the
    rollback; None keeps it as raised). Failures are the driver's own
    (``dialect.loaded_dbapi.Error``), or SQLAlchemy's for a failed checkout or a
    value that cannot be bound.
    """

    def __init__(self, engine: Engine, translate: Callable[[BaseException], BaseException | None]) -> None:
        self.dialect = engine.dialect
        self._engine = engine
        self._translate = translate
        self._processed: dict[tuple[_Processor, type[Any], Any], Any] = {}

    def __enter__(self) -> Transaction:
        try:
            self._connection = connection = self._engine.raw_connection()
        except BaseException as exc:  # noqa: BLE001 - raised again, translated
            self._raise(exc)
        self._cursor: Any = None
        try:
            driver = connection.dbapi_connection
            assert driver is not None  # noqa: S101 - a connection just checked out is live
            self._driver = driver
            self._cursor = cursor = connection.cursor()
            begin = _BEGIN.get(self.dialect.name)
            if begin is not None:
                cursor.execute(begin)
        except BaseException as exc:  # noqa: BLE001 - rolled back, raised again
            self._end(exc)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            try:
                self._driver.commit()
            except BaseException as failed:  # noqa: BLE001 - rolled back, raised again
                self._end(failed)
            self._close()
        else:
            self._end(exc)

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> int:
        """Run ``statement``; the rows it changed (its ``rowcount``)."""
        run = compiled(statement, self.dialect)
        self._cursor.execute(run.sql, run.params(values, self._processed))
        return int(self._cursor.rowcount)

    def rows(self, statement: ClauseElement, values: Mapping[str, Any]) -> list[Any]:
        """Run a SELECT; its rows, as named tuples of the selected columns."""
        run = compiled(statement, self.dialect)
        self._cursor.execute(run.sql, run.params(values, self._processed))
        return run.rows(self._cursor.fetchall())

    def _end(self, exc: BaseException) -> NoReturn:
        """Roll back, give the connection back, raise what ``exc`` becomes."""
        try:
            self._roll_back(exc)
        finally:
            self._close()
        self._raise(exc)

    def _raise(self, exc: BaseException) -> NoReturn:
        translated = self._translate(exc)
        if translated is None:
            raise exc
        raise translated from exc

    def _roll_back(self, exc: BaseException) -> None:
        """Undo what the transaction wrote; a connection that is gone, or that cannot roll
        back, is invalidated so that no later checkout gets it half-way through a transaction."""
        errors = self.dialect.loaded_dbapi.Error
        driver = self._connection.dbapi_connection
        gone = driver is None or (isinstance(exc, errors) and self.dialect.is_disconnect(exc, driver, self._cursor))
        if not gone:
            try:
                driver.rollback()  # type: ignore[union-attr]
            except errors:
                gone = True
        if gone:
            self._connection.invalidate(exc if isinstance(exc, Exception) else None)

    def _close(self) -> None:
        try:
            if self._cursor is not None:
                self._cursor.close()
        finally:
            self._connection.close()  # back to the pool (or, invalidated, to be replaced)

"""What every part of the metadata store shares: the engine and statement helpers for both dialects."""

from __future__ import annotations

import contextlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, ExceptionContext

from ..errors import StoreError


def _damaged_file(context: ExceptionContext) -> None:
    """A SQLite file that is not a database, or a damaged one, is a StoreError naming it and what to do
    (the driver says only "file is not a database"); every other database error is left as it is."""
    if type(context.sqlalchemy_exception) is sa.exc.DatabaseError and context.engine is not None \
            and context.engine.dialect.name == "sqlite":
        raise StoreError(
            f"the store database {context.engine.url.database} is damaged or not a SQLite database "
            f"({context.original_exception}): restore it from a backup, or move it aside and a new, empty store "
            "is created on next use (LINEAGE_STORE_URL names another file)"
        ) from context.original_exception


_INSERTS: dict[tuple[str, tuple[str, ...], str, str], tuple[str, Any]] = {}


def driver_insert(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], row: dict[str, Any]) -> None:
    """``INSERT`` of one row, compiled once per table, columns and dialect and run at driver level: for the rows a
    hot path writes one at a time (a hit's run, the server's audit row), about half the cost of a Core insert."""
    dialect = conn.dialect
    cache_key = (table.name, columns, dialect.name, dialect.driver)
    found = _INSERTS.get(cache_key)
    if found is None:
        compiled = table.insert().values({c: sa.bindparam(c) for c in columns}).compile(dialect=dialect)
        found = _INSERTS[cache_key] = (str(compiled), compiled.positiontup)
    text, positions = found
    conn.exec_driver_sql(text, tuple(row[c] for c in positions) if positions else row)


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        if not sa.event.contains(engine, "handle_error", _damaged_file):
            sa.event.listen(engine, "handle_error", _damaged_file)
        # On a server database, single statements (the hit path's lookup and run insert, lease renewals)
        # run in autocommit: one round trip each instead of BEGIN / statement / COMMIT-or-ROLLBACK.
        # (Embedded SQLite has no round trips, and switching its isolation per checkout costs more.)
        self._auto = None if engine.dialect.name == "sqlite" else engine.execution_options(isolation_level="AUTOCOMMIT")

    def transaction(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """One transaction for a caller that writes several rows together through the ``*_in`` methods (the
        server's hit: ``lookup_in``, ``insert_run_in`` and the audit trail's ``record_in``, one commit)."""
        return self.engine.begin()

    def _statement(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A connection for one self-contained statement: autocommit on a server, a transaction on SQLite."""
        return self._auto.connect() if self._auto is not None else self.engine.begin()

    def _under(self, column: Any, prefix: str) -> sa.ColumnElement[bool]:
        """``column`` starts with ``prefix``, as an indexable range ``[prefix, prefix with its last character
        bumped)`` compared byte-wise: SQLite's BINARY collation is, a PostgreSQL database's collation need not
        be (ICU or glibc collations that ignore punctuation put ``d/a`` outside ``['d/', 'd0')``), so there
        the comparison is ``COLLATE "C"``. Not LIKE: SQLite's LIKE ignores ASCII case."""
        hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        col = column if self.engine.dialect.name == "sqlite" else column.collate("C")
        return sa.and_(col >= prefix, col < hi)

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
        if self.engine.dialect.name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
        return insert(table)

    def _insert_or_ignore(self, table: sa.Table) -> Any:
        return self._insert(table).on_conflict_do_nothing()

    def _upsert(self, table: sa.Table, pk: str, data: list[dict[str, Any]]) -> None:
        """Insert rows, replacing the non-key columns of rows whose key exists (batches of 500)."""
        if not data:
            return
        stmt = self._insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=[pk], set_={c: stmt.excluded[c] for c in data[0] if c != pk})
        with self.engine.begin() as c:
            for i in range(0, len(data), 500):
                c.execute(stmt, data[i : i + 500])

"""The embedded DuckDB backend: snapshots registered as Arrow, rules run as SQL."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from rules.sql import table_name
from tallyclerk.errors import RunError

log = logging.getLogger(__name__)


class DuckDBBackend:
    """One in-process DuckDB connection for the length of a run."""

    dialect = "duckdb"

    def __init__(
        self,
        *,
        memory_limit: str | None = None,
        spill_dir: Path | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        # A cursor of `con` shares its database but not its registered tables; opening a
        # database costs more than checking a thousand records, so callers may keep one.
        self._con = duckdb.connect() if con is None else con.cursor()
        self._con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            self._con.execute("SET memory_limit = ?", [memory_limit])
        if spill_dir:
            self._con.execute("SET temp_directory = ?", [str(spill_dir)])

    def register(self, ref: str, table: pa.Table) -> None:
        """Make the snapshot `system.entity` queryable by the name rules use."""
        self._con.register(table_name(ref), table)

    def query(self, select: exp.Expression | str, *, label: str) -> pa.Table:
        """Run a compiled query, or its SQL as generated for this backend before."""
        sql = select if isinstance(select, str) else select.sql(dialect=self.dialect)
        try:
            return self._con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise RunError(f"{label}: DuckDB could not run the compiled SQL: {exc}") from exc

    def close(self) -> None:
        self._con.close()

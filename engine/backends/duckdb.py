"""The embedded DuckDB backend: snapshots registered as Arrow, rules run as SQL."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlglot import exp

from rules.sql import table_name
from tallyclerk.duckdb_answers import small_answer
from tallyclerk.errors import ConfigError, RunError

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
        # database costs more than checking a thousand records, so callers may keep one,
        # made by `small_batch_database` (whose settings are made once, for every cursor).
        self._memory_limit = memory_limit
        if con is not None:
            self._con = con.cursor()
            return
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            self._con.execute("SET memory_limit = ?", [memory_limit])
        if spill_dir:
            _make_spill_dir(spill_dir)
            self._con.execute("SET temp_directory = ?", [str(spill_dir)])
        # Spilling keeps a compare larger than memory going; order need not be kept for it.
        self._con.execute("SET preserve_insertion_order = false")

    def register(self, ref: str, table: pa.Table, *, path: Path | None = None) -> None:
        """Make the snapshot `system.entity` queryable by the name rules use.

        The Arrow table is scanned where it is; `path`, its Parquet copy, is not needed.
        """
        self._con.register(table_name(ref), table)

    def register_parquet(self, ref: str, path: Path) -> None:
        """Make a snapshot kept as Parquet queryable without reading it into memory first."""
        scan = exp.select(exp.Star()).from_(
            exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(str(path))])
        )
        view = exp.Create(
            this=exp.to_table(exp.to_identifier(table_name(ref), quoted=True).sql("duckdb")),
            kind="VIEW",
            replace=True,
            expression=scan,
        )
        self._con.execute(view.sql(dialect=self.dialect))

    def query(self, select: exp.Expression | str, *, label: str, small: bool = False) -> pa.Table:
        """Run a compiled query, or its SQL as generated for this backend before; `small`
        says its answer is a few thousand rows at most (see `tallyclerk.duckdb_answers`)."""
        sql = select if isinstance(select, str) else select.sql(dialect=self.dialect)
        try:
            if small:
                return small_answer(self._con, sql)
            return self._con.sql(sql).to_arrow_table()
        except duckdb.OutOfMemoryException as exc:
            limit = f"the memory limit {self._memory_limit}" if self._memory_limit else "memory"
            raise RunError(
                f"{label}: DuckDB ran out of {limit}; raise --memory-limit (engine.memory_limit) "
                "or give --spill-dir a folder with free disk space to spill to."
            ) from exc
        except duckdb.Error as exc:
            raise RunError(f"{label}: DuckDB could not run the compiled SQL: {exc}") from exc

    def close(self) -> None:
        self._con.close()


def _make_spill_dir(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--spill-dir {folder} is not a folder; name a folder to spill to.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--spill-dir {folder}: cannot create it ({exc.strerror or exc}); name a folder "
            "you may write to."
        ) from exc

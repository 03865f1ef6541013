"""Small DuckDB answers fetched without the relation API's second bind.

`con.sql(query)` binds a query to learn its columns, then binds it again to run it; for a
query over a thousand records the first bind costs a third of the call. A statement run
with `execute` is bound once, and its rows are copied once more on their way to Arrow,
which is nothing for the few thousand rows this is for and too much for a snapshot.
"""

from __future__ import annotations

import warnings

import duckdb
import pyarrow as pa

# Tables up to this many rows are small: checked records, not snapshots of a month.
SMALL_ROWS = 20_000

# DuckDB warns of that extra copy on every call; for these answers it is the cheaper way.
warnings.filterwarnings(
    "ignore", message="Arrow output on a DB-API result makes an extra copy", category=UserWarning
)


def small_answer(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The rows of `sql`, a query whose answer is small, as Arrow."""
    return con.execute(sql).to_arrow_table()

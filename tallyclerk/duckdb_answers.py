"""Small DuckDB answers fetched without the relation API's second bind, and the database
the server checks small batches in.

`con.sql(query)` binds a query to learn its columns, then binds it again to run it; for a
query over a thousand records the first bind costs a third of the call. A statement run
with `execute` is bound once, and its rows are copied once more on their way to Arrow,
which is nothing for the few thousand rows this is for and too much for a snapshot.
The same few queries run call after call, so each is parsed once and its parsed form kept.
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


# Parsed statements by their SQL. Parsing a rule's query takes a sixth of
# running it on a thousand records; a parsed statement is only read when it runs, so
# cursors on other threads share it.
_PARSED: dict[str, duckdb.Statement] = {}
_PARSED_CACHE = 512


def small_answer(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The rows of `sql`, one query whose answer is small, as Arrow."""
    return con.execute(_parsed(con, sql)).to_arrow_table()


def small_answer_over(con: duckdb.DuckDBPyConnection, sql: str, source: pa.Table) -> pa.Table:
    """The rows of `sql`, one query reading the table `source` whose answer is small, as Arrow.

    DuckDB finds the table as this function's variable `source` (its replacement scan, as
    `duckdb.sql` finds a data frame named in a query): registering a table and dropping it
    again costs more than mapping a thousand rows. `source` must name no table of `con`.
    The query runs in this frame, not through `small_answer`, whose frame has no `source`.
    """
    return con.execute(_parsed(con, sql)).to_arrow_table()


def _parsed(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement | str:
    statement = _PARSED.get(sql)
    if statement is not None:
        return statement
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        return sql
    if len(_PARSED) >= _PARSED_CACHE:
        _PARSED.clear()
    _PARSED[sql] = statements[0]
    return statements[0]


# Optimizers that take longer to plan a query over a few thousand rows than they save
# running it (a validate rule's query plans in 2 ms, a millisecond of it these); none of them
# changes an answer, and joins keep their order and build side.
_SMALL_BATCH_SKIPS = ("expression_rewriter", "statistics_propagation")


def small_batch_database() -> duckdb.DuckDBPyConnection:
    """An in-memory database for checking batches of a few thousand records, call after
    call, from many threads (a cursor each): settings are the database's, so they are made
    once here, not per query. Each query runs on one thread; the server runs calls side by
    side instead, and a small query spends longer handing work between threads than doing it.
    """
    con = duckdb.connect(config={"threads": 1, "disabled_optimizers": ",".join(_SMALL_BATCH_SKIPS)})
    # GLOBAL: a cursor is a session of its own, which a plain SET would leave in the host's
    # time zone, reading timestamps written without an offset as local time.
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con

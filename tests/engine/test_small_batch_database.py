"""The database the server checks records in reads times as UTC, whatever the host's zone."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

_PROBE = """
import threading
from tallyclerk.duckdb_answers import small_batch_database
database = small_batch_database()
def probe():
    con = database.cursor()
    zone = con.execute("SELECT current_setting('TimeZone')").fetchone()[0]
    read = con.execute("SELECT CAST('2026-11-30 23:30:00' AS TIMESTAMPTZ)::VARCHAR").fetchone()[0]
    print(zone, read)
worker = threading.Thread(target=probe)
worker.start()
worker.join()
"""


def test_a_cursor_on_another_thread_reads_times_as_utc_on_a_host_in_new_york():
    env = os.environ | {"TZ": "America/New_York"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split("\n")[0] == "UTC 2026-11-30 23:30:00+00"


def test_a_kept_statement_reads_the_table_each_call_gives_it_and_registers_nothing():
    import duckdb
    import pyarrow as pa

    from tallyclerk.duckdb_answers import small_answer_over, small_batch_database

    database = small_batch_database()
    sql = "SELECT sum(n) AS total FROM source"
    answers = [
        small_answer_over(database.cursor(), sql, pa.table({"n": pa.array(values, pa.int64())}))
        for values in ([1, 2], [10, 20, 30])
    ]
    assert [answer.column("total").to_pylist() for answer in answers] == [[3], [60]]
    with pytest.raises(duckdb.CatalogException, match="source"):
        database.cursor().execute(sql)

    # Threads running the same kept statement at once each read their own table.
    def totals(n: int) -> list[int]:
        table = pa.table({"n": pa.array([n] * 1000, pa.int64())})
        return [
            small_answer_over(database.cursor(), sql, table)["total"][0].as_py() for _ in range(20)
        ]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(totals, range(1, 9)))
    assert answers == [[n * 1000] * 20 for n in range(1, 9)]


def test_a_kept_statement_reads_what_each_cursor_has_registered_when_it_runs():
    import pyarrow as pa

    from tallyclerk.duckdb_answers import small_answer, small_batch_database

    database = small_batch_database()
    sql = "SELECT sum(n) AS total FROM records"
    answers = []
    for values in ([1, 2], [10, 20, 30], []):
        con = database.cursor()
        con.register("records", pa.table({"n": pa.array(values, pa.int64())}))
        answers.append(small_answer(con, sql).column("total").to_pylist())
        con.close()
    assert answers == [[3], [60], [None]]
    # Several statements are run as they are, not kept.
    con = database.cursor()
    assert small_answer(con, "SELECT 1 AS a; SELECT 2 AS b").to_pydict() == {"b": [2]}


def test_a_batch_key_counts_as_unique_only_when_no_two_records_share_it_nulls_included():
    import pyarrow as pa

    from engine.records import _unique_keys
    from rules.model import ValidateRule

    def rule(key: list[str] | None) -> ValidateRule:
        check = {"check": "not_null", "column": "b"}
        return ValidateRule(id="r", kind="validate", table="x.t", checks=[check], key=key)

    rules = [rule(None), rule(["a", "b"]), rule(["b"]), rule(["c"])]
    table = pa.table({"a": ["1", "2", "3"], "b": [None, "x", None], "c": ["p", None, "p"]})
    # a is the first column, so the key of a rule naming none; a+b holds no repeat.
    assert _unique_keys(rules, "x.t", table) == {"x.t": [["a"], ["a", "b"]]}
    assert _unique_keys(rules, "x.other", table) == {}
    twice = pa.table({"a": ["1", "1"], "b": ["x", "y"], "c": [None, None]})
    assert _unique_keys(rules, "x.t", twice) == {"x.t": [["a", "b"], ["b"]]}


def test_keys_a_finding_writes_alike_count_as_repeats_though_their_values_differ():
    import pyarrow as pa

    from engine.records import _unique_keys
    from rules.model import ValidateRule

    def rule(key: list[str]) -> ValidateRule:
        check = {"check": "not_null", "column": "c"}
        return ValidateRule(id="r", kind="validate", table="x.t", checks=[check], key=key)

    # A NULL and the text NULL both write a=NULL; "A, c=B" beside "C" and "A" beside "B, c=C"
    # both write b=A, c=B, c=C.
    table = pa.table(
        {"a": [None, "NULL"], "b": ["A, c=B", "A"], "c": ["C", "B, c=C"], "d": ["1", "2"]}
    )
    rules = [rule(["a"]), rule(["b", "c"]), rule(["d"])]
    assert _unique_keys(rules, "x.t", table) == {"x.t": [["d"]]}

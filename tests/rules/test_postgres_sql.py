"""The SQL `rules sql --dialect postgres` prints runs on a real PostgreSQL server and finds
what DuckDB finds."""

from __future__ import annotations

import polars as pl
import psycopg

from rules.compile import finish_findings, rule_sql

from .conftest import build_context, evaluate, parse_rule

CUSTOMERS = pl.DataFrame(
    {
        "customer_id": ["C1", "C2", "C3", "C4", "C4"],
        "name": ["Alpine Pools Ltd", "Alpine Pools Limited", "Baltic Marine", "Crane Co", "Crane"],
        "postal_code": ["8001", "8001", "8001", "9000", "9000"],
    }
)
RULE = {
    "id": "customer-duplicates",
    "kind": "duplicates",
    "table": "erp.customer",
    "key": ["customer_id"],
    "near": {"block": ["postal_code"], "compare": "name", "threshold": 0.6},
}


def test_near_duplicates_run_on_postgresql_as_printed(postgres_dsn):
    parsed = parse_rule(RULE)
    sql = rule_sql(parsed, build_context({"erp.customer": CUSTOMERS}), "postgres")
    assert sql.startswith("-- levenshtein() needs: CREATE EXTENSION fuzzystrmatch;\n")
    with psycopg.connect(postgres_dsn, autocommit=True) as con:
        con.execute("CREATE EXTENSION fuzzystrmatch")
        con.execute('CREATE TABLE "erp__customer" (customer_id TEXT, name TEXT, postal_code TEXT)')
        with con.cursor() as cursor:
            cursor.executemany('INSERT INTO "erp__customer" VALUES (%s, %s, %s)', CUSTOMERS.rows())
            cursor.execute(sql)
            names = [column.name for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    found = finish_findings(parsed, pl.DataFrame(rows, infer_schema_length=None).to_arrow())
    on_postgres = sorted(zip(found["problem"].to_pylist(), found["key"].to_pylist(), strict=True))
    on_duckdb = evaluate(RULE, {"erp.customer": CUSTOMERS}, columns=("problem", "key"))
    assert on_postgres == on_duckdb
    assert ("duplicate_key", "customer_id=C4") in on_duckdb
    assert any(problem == "near_duplicate" for problem, _ in on_duckdb)

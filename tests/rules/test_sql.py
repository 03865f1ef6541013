"""parse_expression and check_columns: what a user may write in a rule, and what is refused."""

from __future__ import annotations

import polars as pl
import pytest

from rules.compile import compile_rule, rule_sql
from rules.sql import bind_period, check_columns, parse_expression
from tallyclerk.errors import ConfigError, ExpressionError, RuleError

from .conftest import build_context, parse_rule

WHERE = "rule 'x' left.measure"
ONLY_ROWS = "Only single-row expressions over the row's own columns are accepted."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "amount + (SELECT 1)",
            f"{WHERE}: 'amount + (SELECT 1)' is not allowed: it contains a subquery. {ONLY_ROWS}",
        ),
        (
            "amount IN (SELECT amount FROM erp__item)",
            f"{WHERE}: 'amount IN (SELECT amount FROM erp__item)' is not allowed: "
            f"it contains a subquery. {ONLY_ROWS}",
        ),
        (
            "a; drop table x",
            f"{WHERE}: 'a; drop table x' is not allowed: it contains more than one statement. "
            f"{ONLY_ROWS}",
        ),
        (
            "read_csv('x')",
            f"{WHERE}: \"read_csv('x')\" is not allowed: it contains a function reading files, "
            f"URLs or other databases (READ_CSV('x')). {ONLY_ROWS}",
        ),
        (
            "getenv('A')",
            f"{WHERE}: \"getenv('A')\" calls the unknown function getenv(). Use a standard SQL "
            "function, or one of: damerau_levenshtein, jaro_winkler_similarity, nfc_normalize, "
            "strip_accents.",
        ),
        (
            "amount +",
            f"{WHERE}: cannot parse SQL expression 'amount +': Required keyword: 'expression' "
            "missing for Add. Write one expression, for example \"ltrim(ItemNumber, '0')\".",
        ),
        (
            "desc * 2",
            f"{WHERE}: cannot parse SQL expression 'desc * 2': desc is a reserved word in SQL; "
            "to read the source column desc, quote its name: '\"desc\" * 2'.",
        ),
    ],
)
def test_unsafe_or_broken_expressions_are_refused(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse_expression(text, where=WHERE)
    assert str(raised.value) == message


# What a user must never run through a rule, and the part of the message saying why.
REFUSED = [
    ("PRAGMA database_list", "a PRAGMA statement or clause"),
    ("SET memory_limit = '1GB'", "a SET statement or clause"),
    ("ATTACH 'other.db' AS other", "an ATTACH statement or clause"),
    ("DETACH other", "a DETACH statement or clause"),
    ("COPY erp__item TO 'out.csv'", "a COPY statement or clause"),
    ("INSTALL httpfs", "an INSTALL statement or clause"),
    ("LOAD httpfs", "a LOAD statement or clause"),
    ("CALL pragma_version()", "a CALL statement or clause"),
    ("CREATE TABLE t AS SELECT 1", "a CREATE statement or clause"),
    ("DELETE FROM erp__item", "a DELETE statement or clause"),
    ("amount > 0; DROP TABLE erp__item", "more than one statement"),
    ("amount > (SELECT max(amount) FROM finance__payment)", "a subquery"),
    ("EXISTS (SELECT 1 FROM erp__item)", "a subquery"),
    ("erp__item.unit_cost > 0", "a column of another table (erp__item.unit_cost)"),
    (
        "read_parquet('s3://bucket/x.parquet') IS NULL",
        "a function reading files, URLs or other databases (READ_PARQUET('s3://bucket/x.parquet'))",
    ),
    (
        "read_json_auto('https://example.com/x.json') IS NULL",
        "a function reading files, URLs or other databases (read_json_auto)",
    ),
    ("glob('/home/*') IS NULL", "a function reading files, URLs or other databases (glob)"),
    (
        "unnest(string_split(memo, ',')) = 'x'",
        "a function returning rows (UNNEST(STR_SPLIT(memo, ',')))",
    ),
    (
        "sum(amount) > 0",
        "an aggregate or window function (SUM(amount)); write the value of one row, "
        "the rule does the summing",
    ),
    ("random() < 0.5", "a random value (RANDOM()), so findings would change every run"),
]


@pytest.mark.parametrize(("predicate", "why"), REFUSED)
def test_a_refused_expression_names_the_rule_the_part_and_why(predicate, why):
    rule = parse_rule(
        {
            "id": "payments-sane",
            "kind": "validate",
            "table": "finance.payment",
            "checks": [{"check": "expression", "name": "p", "predicate": predicate}],
        }
    )
    payments = pl.DataFrame({"payment_id": ["P1"], "amount": [1.0], "memo": ["x"]})
    with pytest.raises(RuleError) as raised:
        compile_rule(rule, build_context({"finance.payment": payments}))
    assert str(raised.value) == (
        f"rule 'payments-sane' checks[0].predicate: {predicate!r} is not allowed: it contains "
        f"{why}. {ONLY_ROWS}"
    )


def test_an_unknown_column_is_named_with_the_columns_there_are():
    tree = parse_expression("on_hand_qty * unit_cots", where=WHERE)
    with pytest.raises(ExpressionError) as raised:
        check_columns(tree, ["unit_cost", "on_hand_qty", "item_id"], where=WHERE)
    assert str(raised.value) == (
        f"{WHERE}: unknown column 'unit_cots'; "
        "available columns are: item_id, on_hand_qty, unit_cost."
    )


def test_now_and_today_are_the_period_end():
    tree = parse_expression("posted_at < now() AND posted_on <= current_date", where=WHERE)

    bound = bind_period(tree, start="2026-11-01 00:00:00+00", end="2026-12-01 00:00:00+00")

    assert bound.sql(dialect="duckdb") == (
        "posted_at < CAST('2026-12-01 00:00:00+00' AS TIMESTAMPTZ) AND posted_on <= "
        "CAST(CAST('2026-12-01 00:00:00+00' AS TIMESTAMPTZ) AS DATE)"
    )


def test_a_safe_expression_is_kept_and_the_period_bounds_become_instants():
    tree = parse_expression("ltrim(item_id, '0') <> '' AND posted_at < period_end", where=WHERE)
    check_columns(tree, ["item_id", "posted_at"], where=WHERE, allow=("period_end",))

    bound = bind_period(tree, start="2026-11-01 00:00:00+00", end="2026-12-01 00:00:00+00")

    assert bound.sql(dialect="duckdb") == (
        "LTRIM(item_id, '0') <> '' AND posted_at < CAST('2026-12-01 00:00:00+00' AS TIMESTAMPTZ)"
    )


# --- the SQL a rule is shown as -------------------------------------------------------


def _time_match() -> tuple:
    rule = parse_rule(
        {
            "id": "shipped-in-time",
            "kind": "match",
            "entity": "shipment",
            "systems": ["wms", "tms"],
            "key": ["shipment_id"],
            "fields": [
                {"name": "shipped_at", "compare": "time", "window_seconds": 60},
                {"name": "carrier_scac", "compare": "text"},
            ],
        }
    )
    columns = pl.DataFrame({"shipment_id": ["SH1"], "shipped_at": [None], "carrier_scac": [None]})
    return rule, build_context({"wms.shipment": columns, "tms.shipment": columns})


def test_spark_sql_uses_spark_functions_and_quoting():
    rule, ctx = _time_match()

    spark = rule_sql(rule, ctx, "spark")
    duckdb = rule_sql(rule, ctx, "duckdb")

    # Seconds keep their fractions, as DuckDB's epoch() does.
    assert "UNIX_MICROS(CAST(`wms__shipped_at` AS TIMESTAMP)) / 1000000.0" in spark
    # A value read as text gets DuckDB's offset when it is an instant (whatever the indent).
    assert (
        "WHEN TYPEOF(`wms__carrier_scac`) = 'timestamp' "
        "THEN CONCAT(CAST(`wms__carrier_scac` AS STRING), '+00') "
        "ELSE CAST(`wms__carrier_scac` AS STRING) END, '\\\\s+',"
    ) in " ".join(spark.split())
    assert 'EPOCH(CAST("wms__shipped_at" AS TIMESTAMPTZ))' in duckdb
    assert "REGEXP_REPLACE(CAST(\"wms__carrier_scac\" AS TEXT), '\\s+', ' ', 'g')" in duckdb


def test_an_untested_dialect_is_refused():
    rule, ctx = _time_match()
    with pytest.raises(
        ConfigError,
        match=r"^unknown SQL dialect 'oracle'; use one of: duckdb, spark, postgres, snowflake\.$",
    ):
        rule_sql(rule, ctx, "oracle")

"""parse_expression and check_columns: what a user may write in a rule, and what is refused."""

from __future__ import annotations

import polars as pl
import pytest

from rules.compile import rule_sql
from rules.sql import bind_period, check_columns, parse_expression
from tallyclerk.errors import ConfigError, ExpressionError

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
            f"{WHERE}: \"read_csv('x')\" is not allowed: it contains a READCSV statement or "
            f"clause. {ONLY_ROWS}",
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
            "missing for <class 'sqlglot.expressions.core.Add'>. Write one expression, for "
            "example \"ltrim(ItemNumber, '0')\".",
        ),
    ],
)
def test_unsafe_or_broken_expressions_are_refused(text, message):
    with pytest.raises(ExpressionError) as raised:
        parse_expression(text, where=WHERE)
    assert str(raised.value) == message


def test_an_unknown_column_is_named_with_the_columns_there_are():
    tree = parse_expression("on_hand_qty * unit_cots", where=WHERE)
    with pytest.raises(ExpressionError) as raised:
        check_columns(tree, ["unit_cost", "on_hand_qty", "item_id"], where=WHERE)
    assert str(raised.value) == (
        f"{WHERE}: unknown column 'unit_cots'; "
        "available columns are: item_id, on_hand_qty, unit_cost."
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

    assert "UNIX_TIMESTAMP(CAST(`wms__shipped_at` AS TIMESTAMP))" in spark
    assert "REGEXP_REPLACE(CAST(`wms__carrier_scac` AS STRING), '\\\\s+', ' ')" in spark
    assert 'EPOCH(CAST("wms__shipped_at" AS TIMESTAMPTZ))' in duckdb
    assert "REGEXP_REPLACE(CAST(\"wms__carrier_scac\" AS TEXT), '\\s+', ' ', 'g')" in duckdb


def test_an_untested_dialect_is_refused():
    rule, ctx = _time_match()
    with pytest.raises(
        ConfigError, match=r"^unknown SQL dialect 'postgres'; use one of: duckdb, spark\.$"
    ):
        rule_sql(rule, ctx, "postgres")

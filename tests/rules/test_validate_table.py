"""validate checks beyond single values: freshness and row count at the period's cut-off,
text length, large accepted-value sets, and `now()` read as the period end."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

NOVEMBER = ("2026-11-01 00:00:00+00", "2026-12-01 00:00:00+00")


def _rule(*checks: dict, table: str = "wms.inventory_balance", **extra) -> dict:
    return {"id": "stock", "kind": "validate", "table": table, "checks": list(checks), **extra}


def _counts(*rows: tuple[str, str, datetime | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "location_id": [row[0] for row in rows],
            "item_id": [row[1] for row in rows],
            "as_of": pl.Series([row[2] for row in rows], dtype=pl.Datetime("us", "UTC")),
        }
    )


def test_freshness_per_group_against_the_period_end(run_rule):
    counts = _counts(
        ("WH1", "A", datetime(2026, 11, 30, 0, 0)),  # exactly 1 day before the end: fresh
        ("WH1", "B", datetime(2026, 11, 20)),
        ("WH2", "A", datetime(2026, 11, 29, 23, 59, 59)),  # one second too old
        ("WH3", "A", None),  # no count at all
        ("WH4", "A", datetime(2026, 12, 3)),  # after the period end: fresh
    )
    rule = _rule({"check": "freshness", "column": "as_of", "max_age": "1d", "by": ["location_id"]})

    found = run_rule(
        rule,
        {"wms.inventory_balance": counts},
        period=NOVEMBER,
        columns=("problem", "key", "field", "other_value", "message"),
    )

    assert found == [
        (
            "freshness",
            "location_id=WH2",
            "as_of",
            "2026-11-29 23:59:59+00",
            "the newest as_of 2026-11-29 23:59:59+00 is more than 1d before the period end "
            "2026-12-01 00:00:00+00",
        ),
        (
            "freshness",
            "location_id=WH3",
            "as_of",
            None,
            "as_of has no value, so wms.inventory_balance is not known to be fresh at the period "
            "end 2026-12-01 00:00:00+00",
        ),
    ]


def test_freshness_of_the_whole_table_and_of_an_empty_one(run_rule):
    stale = _counts(("WH1", "A", datetime(2026, 11, 1)), ("WH2", "A", datetime(2026, 11, 28)))
    empty = _counts(("WH1", "A", datetime(2026, 11, 30)))
    rule = _rule({"check": "freshness", "column": "as_of", "max_age": "36h"})
    # The filter leaves no rows: an empty table is not known to be fresh either.
    filtered = {**rule, "filter": "location_id = 'WH9'"}

    assert run_rule(
        rule, {"wms.inventory_balance": stale}, period=NOVEMBER, columns=("key", "other_value")
    ) == [("", "2026-11-28 00:00:00+00")]
    assert run_rule(
        filtered, {"wms.inventory_balance": empty}, period=NOVEMBER, columns=("key", "other_value")
    ) == [("", None)]


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"min": 3}, [("row_count", "", "rows", "2")]),
        ({"min": 2, "max": 2}, []),
        ({"max": 1}, [("row_count", "", "rows", "2")]),
    ],
)
def test_row_count_bounds_are_inclusive(run_rule, bounds, expected):
    counts = _counts(("WH1", "A", None), ("WH1", "B", None), ("WH2", "A", None))
    rule = _rule({"check": "row_count", **bounds}, filter="location_id = 'WH1'")

    found = run_rule(
        rule, {"wms.inventory_balance": counts}, columns=("problem", "key", "field", "other_value")
    )

    assert found == expected


def test_row_count_message(run_rule):
    counts = _counts(("WH1", "A", None))
    found = run_rule(
        _rule({"check": "row_count", "min": 10, "max": 500}),
        {"wms.inventory_balance": counts},
        columns=("message",),
    )
    assert found == [("wms.inventory_balance has 1 rows; expected at least 10 and at most 500",)]


def test_length_counts_characters_not_bytes(run_rule):
    # Two characters each, though "Öl" and "東京" take 3 and 6 bytes in UTF-8.
    items = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "5"],
            "uom": ["EA", "Öl", "東京", "E", "EACH"],
        }
    )
    rule = _rule({"check": "length", "column": "uom", "min": 2, "max": 3}, table="erp.item")

    found = run_rule(
        rule, {"erp.item": items}, columns=("problem", "key", "other_value", "message")
    )

    assert found == [
        (
            "length",
            "item_id=4",
            "E",
            "uom E has a length outside at least 2 and at most 3 characters",
        ),
        (
            "length",
            "item_id=5",
            "EACH",
            "uom EACH has a length outside at least 2 and at most 3 characters",
        ),
    ]


def test_accepted_values_by_join_for_a_large_set(run_rule):
    # 5,000 accepted codes: one inline VALUES table joined once, not 5,000 comparisons.
    codes = [f"L{n:05d}" for n in range(5000)]
    locations = pl.DataFrame({"location_id": ["L00000", "L04999", "L05000", None]})
    rule = _rule(
        {"check": "accepted_values", "column": "location_id", "values": codes},
        table="erp.location",
    )

    found = run_rule(rule, {"erp.location": locations}, columns=("key", "message"))

    assert found == [
        (
            "location_id=L05000",
            "location_id L05000 is not one of L00000, L00001, L00002, L00003, L00004, L00005, "
            "L00006, L00007, L00008, L00009 or 4990 other accepted values",
        )
    ]


def test_now_in_a_predicate_is_the_period_end(run_rule):
    # A close re-run next year must find the same: now() is the cut-off, not the clock.
    receipts = pl.DataFrame(
        {
            "receipt_id": ["R1", "R2"],
            "received_at": pl.Series(
                [datetime(2026, 11, 30, 12), datetime(2026, 12, 2)], dtype=pl.Datetime("us", "UTC")
            ),
        }
    )
    rule = _rule(
        {"check": "expression", "name": "received_at", "predicate": "received_at <= now()"},
        table="wms.receipt",
    )

    found = run_rule(rule, {"wms.receipt": receipts}, period=NOVEMBER, columns=("key",))

    assert found == [("receipt_id=R2",)]

"""match rules: keys normalised (trim, case, leading zeros, NFKC), typed keys reconciled or
refused, composite keys as typed tuples, and values compared by value and by instant."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest

from rules.compile import compile_rule, rule_sql
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule


def _match(*fields: dict, key=("item_id",), entity="item", **extra) -> dict:
    return {
        "id": "sync",
        "kind": "match",
        "entity": entity,
        "systems": ["erp", "wms"],
        "key": list(key),
        "fields": list(fields),
        **extra,
    }


def test_keys_are_normalised_before_joining(run_rule):
    # Fullwidth digits, a no-break space, case and leading zeros: each pair is one item.
    erp = pl.DataFrame(
        {
            "item_id": ["00123", "ab-7", "\uff14\uff15\uff16", "0", "900"],
            "uom": ["EA", "CS", "PL", "KG", "EA"],
        }
    )
    wms = pl.DataFrame(
        {
            "item_id": [" 123\u00a0", "AB-7", "456", "000", "9"],
            "uom": ["EA", "CS", "EA", "KG", "EA"],
        }
    )
    rule = _match(
        {"name": "uom"}, normalise=["leading_zeros", "case", "trim", "nfkc"]
    )  # declared in any order, run in one

    found = run_rule(
        rule,
        {"erp.item": erp, "wms.item": wms},
        owners={"item": "erp"},
        columns=("problem", "key", "field", "owner_value", "other_value"),
    )

    # The owner's spelling names the record; 900 and 9 stay two items.
    assert found == [
        ("drift", "item_id=\uff14\uff15\uff16", "uom", "PL", "EA"),
        ("missing_in_erp", "item_id=9", "", None, "item_id=9"),
        ("missing_in_wms", "item_id=900", "", "item_id=900", None),
    ]


def test_keys_equal_once_normalised_are_duplicates(run_rule):
    erp = pl.DataFrame({"item_id": ["7"], "uom": ["EA"]})
    wms = pl.DataFrame({"item_id": ["007", "7", "8"], "uom": ["EA", "EA", "EA"]})
    rule = _match({"name": "uom"}, normalise={"item_id": ["leading_zeros"]})

    found = run_rule(
        rule, {"erp.item": erp, "wms.item": wms}, columns=("problem", "key", "systems", "message")
    )

    assert found == [
        (
            "duplicate_key_in_wms",
            "item_id=007",
            "wms",
            "wms has 2 item records with this key, so none is compared",
        ),
        ("missing_in_erp", "item_id=8", "erp+wms", "this item is in wms but missing in erp"),
    ]


def test_an_integer_key_against_a_text_key_is_refused_without_a_normalisation():
    erp = pl.DataFrame({"item_id": [123], "uom": ["EA"]})
    wms = pl.DataFrame({"item_id": ["00123"], "uom": ["EA"]})
    ctx = build_context({"erp.item": erp, "wms.item": wms})

    with pytest.raises(RuleError) as raised:
        compile_rule(parse_rule(_match({"name": "uom"})), ctx)

    assert str(raised.value) == (
        "rule 'sync' key: item_id is integer in erp.item but item_id is text in wms.item, so "
        "their values cannot be joined as they are; declare normalise: {item_id: [trim]} (or "
        "[leading_zeros], ...) to compare both as text, or map the column to one type in the "
        "source mappings."
    )


def test_an_integer_key_against_a_text_key_with_a_declared_normalisation(run_rule):
    erp = pl.DataFrame({"item_id": [123, 124], "uom": ["EA", "EA"]})
    wms = pl.DataFrame({"item_id": ["00123", "125"], "uom": ["EA", "EA"]})
    rule = _match({"name": "uom"}, normalise=["trim", "leading_zeros"])

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, columns=("problem", "key"))

    assert found == [("missing_in_erp", "item_id=125"), ("missing_in_wms", "item_id=124")]


def test_integer_and_decimal_keys_compare_by_value(run_rule):
    erp = pa.table({"line_no": pa.array([1, 2], pa.int32()), "qty": [5, 5]})
    wms = pa.table(
        {
            "line_no": pa.array([Decimal("1.00"), Decimal("3.00")], pa.decimal128(9, 2)),
            "qty": [5, 5],
        }
    )
    rule = _match({"name": "qty"}, key=("line_no",))

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, columns=("problem", "key"))

    assert found == [("missing_in_erp", "line_no=3.00"), ("missing_in_wms", "line_no=2")]


def test_composite_keys_are_typed_tuples_never_glued_into_text(run_rule):
    # Glued as text, ("SO1", 12) and ("SO11", 2) would both read "SO112".
    # A NULL part matches nothing, and never merges rows whose other parts differ.
    erp = pa.table(
        {
            "order_id": ["SO1", "SO11", "SO2", "SO3"],
            "line_no": pa.array([12, 2, None, None], pa.int64()),
            "qty": [1, 1, 1, 1],
        }
    )
    wms = pa.table(
        {
            "order_id": ["SO1", "SO11", "SO2", "SO4"],
            "line_no": pa.array([12, 2, None, None], pa.int64()),
            "qty": [1, 9, 1, 1],
        }
    )
    rule = _match({"name": "qty"}, key=("order_id", "line_no"), entity="sales_order_line")

    found = run_rule(
        rule,
        {"erp.sales_order_line": erp, "wms.sales_order_line": wms},
        columns=("problem", "key", "owner_value", "other_value"),
    )

    assert found == [
        ("drift", "order_id=SO11, line_no=2", "1", "9"),
        ("missing_in_erp", "order_id=SO2, line_no=NULL", None, "order_id=SO2, line_no=NULL"),
        ("missing_in_erp", "order_id=SO4, line_no=NULL", None, "order_id=SO4, line_no=NULL"),
        ("missing_in_wms", "order_id=SO2, line_no=NULL", "order_id=SO2, line_no=NULL", None),
        ("missing_in_wms", "order_id=SO3, line_no=NULL", "order_id=SO3, line_no=NULL", None),
    ]


def test_decimals_of_different_scale_are_equal_by_value(run_rule):
    erp = pa.table(
        {
            "item_id": ["1", "2"],
            "unit_cost": pa.array([Decimal("1.5"), Decimal("2.5")], pa.decimal128(9, 1)),
        }
    )
    wms = pa.table(
        {
            "item_id": ["1", "2"],
            "unit_cost": pa.array([Decimal("1.5000"), Decimal("2.5001")], pa.decimal128(18, 4)),
        }
    )

    found = run_rule(
        _match({"name": "unit_cost"}),
        {"erp.item": erp, "wms.item": wms},
        columns=("key", "owner_value", "other_value"),
    )

    assert found == [("item_id=2", "2.5", "2.5001")]


def test_exact_compare_of_timestamps_is_by_instant_and_precision_free(run_rule):
    utc = datetime(2026, 11, 2, 15, 0, 0)
    erp = pa.table(
        {
            "shipment_id": ["SH1", "SH2"],
            "shipped_at": pa.array([utc, utc], pa.timestamp("us", tz="UTC")),
        }
    )
    # SH1 is the same instant written in New York time and to the millisecond; SH2 a second on.
    wms = pa.table(
        {
            "shipment_id": ["SH1", "SH2"],
            "shipped_at": pa.array([utc, utc.replace(second=1)], pa.timestamp("ms", tz="UTC")).cast(
                pa.timestamp("ms", tz="America/New_York")
            ),
        }
    )
    rule = _match({"name": "shipped_at"}, key=("shipment_id",), entity="shipment")

    found = run_rule(rule, {"erp.shipment": erp, "wms.shipment": wms}, columns=("key",))

    assert found == [("shipment_id=SH2",)]


def test_a_date_against_a_timestamp_within_a_window(run_rule):
    erp = pl.DataFrame({"order_id": ["SO1", "SO2"], "due": [date(2026, 11, 2), date(2026, 11, 2)]})
    wms = pl.DataFrame(
        {"order_id": ["SO1", "SO2"], "due": [datetime(2026, 11, 2, 23), datetime(2026, 11, 3, 1)]}
    )
    rule = _match(
        {"name": "due", "compare": "time", "window_seconds": 86400},
        key=("order_id",),
        entity="sales_order",
    )

    found = run_rule(rule, {"erp.sales_order": erp, "wms.sales_order": wms}, columns=("key",))

    assert found == [("order_id=SO2",)]


def test_an_exact_compare_of_text_against_a_number_is_refused():
    erp = pl.DataFrame({"item_id": ["1"], "uom": ["1"]})
    wms = pl.DataFrame({"item_id": ["1"], "uom": [1]})
    with pytest.raises(RuleError) as raised:
        compile_rule(
            parse_rule(_match({"name": "uom"})), build_context({"erp.item": erp, "wms.item": wms})
        )
    assert str(raised.value) == (
        "rule 'sync' fields[0].compare: uom is text in erp but integer in wms; use compare: text "
        "to compare both as text, or compare: numeric or time to read both as numbers or instants."
    )


def test_value_maps_translate_one_system_into_the_others_words(run_rule):
    erp = pl.DataFrame(
        {"shipment_id": ["SH1", "SH2", "SH3"], "status": ["SHIPPED", "LOADED", "SHIPPED"]}
    )
    wms = pl.DataFrame({"shipment_id": ["SH1", "SH2", "SH3"], "status": ["SH", "SH", "XX"]})
    rule = _match(
        {"name": "status", "map": {"wms": {"SH": "SHIPPED", "LD": "LOADED"}}},
        key=("shipment_id",),
        entity="shipment",
    )

    found = run_rule(
        rule,
        {"erp.shipment": erp, "wms.shipment": wms},
        columns=("key", "owner_value", "other_value"),
    )

    # Findings show each system's own value.
    assert found == [("shipment_id=SH2", "LOADED", "SH"), ("shipment_id=SH3", "SHIPPED", "XX")]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("duckdb", "NFC_NORMALIZE(TRANSLATE(CAST("),
        ("postgres", "NORMALIZE(CAST("),
        # Spark reads an instant as text without its offset; the cast adds it when it is one.
        ("spark", "ELSECAST(`item_id`ASSTRING)END,'\u00a0ª²³"),
        ("snowflake", "TRANSLATE(CAST("),
    ],
)
def test_nfkc_is_written_for_each_dialect(dialect, expected):
    items = pl.DataFrame({"item_id": ["1"]})
    ctx = build_context({"erp.item": items, "wms.item": items})
    sql = re.sub(r"[ \n]+", "", rule_sql(parse_rule(_match(normalise=["nfkc"])), ctx, dialect))
    assert expected in sql
    if dialect == "postgres":
        assert "ASVARCHAR),NFKC)" in sql

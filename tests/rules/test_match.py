"""match rules: keys joined across two systems, fields compared by mode and tolerance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pyarrow as pa
import pytest
from sqlglot import exp

from rules.compile import compile_rule
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule


def _match(*fields: dict, systems=("erp", "wms"), entity="item", key=("item_id",), **extra) -> dict:
    return {
        "id": "sync",
        "kind": "match",
        "entity": entity,
        "systems": list(systems),
        "key": list(key),
        "fields": list(fields),
        **extra,
    }


def _decimals(*values: str | None) -> list[Decimal | None]:
    return [None if value is None else Decimal(value) for value in values]


def test_item_master_sync_reports_drift_and_missing_records(run_rule):
    erp = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "5"],
            "description": ["Pallet Jack", "Hand Truck", "Shelf Rack", "Dock Plate", "Floor Tape"],
            "weight_kg": _decimals("10.00", "20.00", "30.00", "40.00", "1.00"),
        }
    )
    wms = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "6"],
            "description": ["  pallet JACK ", "Hand Cart", "Shelf Rack", "Dock Plate", "Sample"],
            "weight_kg": _decimals("10.05", "20.00", "30.20", "40.00", "2.00"),
        }
    )
    rule = _match(
        {"name": "description", "compare": "text"},
        {"name": "weight_kg", "compare": "numeric", "rel_tol": 0.005},
    )

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, owners={"item": "erp"})

    assert found == [
        ("drift", "item_id=2", "description", "erp+wms", "erp", "Hand Truck", "Hand Cart"),
        ("drift", "item_id=3", "weight_kg", "erp+wms", "erp", "30.00", "30.20"),
        ("missing_in_erp", "item_id=6", "", "erp+wms", "erp", None, "item_id=6"),
        ("missing_in_wms", "item_id=5", "", "erp+wms", "erp", "item_id=5", None),
    ]


def test_drift_message_names_both_systems_and_values(run_rule):
    erp = pl.DataFrame({"item_id": ["1"], "weight_kg": _decimals("10.33")})
    wms = pl.DataFrame({"item_id": ["1"], "weight_kg": _decimals("12.40")})
    rule = _match({"name": "weight_kg", "compare": "numeric", "abs_tol": 0.5})

    found = run_rule(
        rule, {"erp.item": erp, "wms.item": wms}, owners={"item": "erp"}, columns=("message",)
    )

    assert found == [("wms weight_kg 12.40 differs from owner erp 10.33 beyond tolerance",)]


def test_numeric_difference_of_exactly_the_tolerance_is_equal(run_rule):
    # Each pair is 0.01 apart, the tolerance, except item 2; in DOUBLE, 1.01 - 1.00 would
    # come out as 0.010000000000000009 and 100.01 - 100.00 as 0.010000000000005116.
    erp = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4"],
            "unit_cost": _decimals("1.00", "10.00", "-0.50", "100.00"),
        }
    )
    wms = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4"],
            "unit_cost": _decimals("1.01", "10.02", "-0.51", "100.01"),
        }
    )
    rule = _match({"name": "unit_cost", "compare": "numeric", "abs_tol": 0.01})

    found = run_rule(
        rule,
        {"erp.item": erp, "wms.item": wms},
        columns=("key", "owner_value", "other_value"),
    )

    assert found == [("item_id=2", "10.00", "10.02")]


def test_numeric_tolerance_is_exact_for_double_inputs_too(run_rule):
    erp = pl.DataFrame({"item_id": ["1", "2"], "weight_kg": [0.50, 0.50]})
    wms = pl.DataFrame({"item_id": ["1", "2"], "weight_kg": [0.51, 0.52]})
    rule = _match({"name": "weight_kg", "compare": "numeric", "abs_tol": 0.01})

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, columns=("key",))

    assert found == [("item_id=2",)]


@pytest.mark.parametrize("systems", [("erp", "wms"), ("wms", "erp")])
def test_relative_tolerance_is_symmetric(run_rule, systems):
    # 0.5 % of the larger value: 100 vs 99.5 is just within, 100 vs 99.4 is not, either way round.
    erp = pl.DataFrame(
        {"item_id": ["1", "2", "3", "4"], "weight_kg": _decimals("100", "99.5", "100", "99.4")}
    )
    wms = pl.DataFrame(
        {"item_id": ["1", "2", "3", "4"], "weight_kg": _decimals("99.5", "100", "99.4", "100")}
    )
    rule = _match({"name": "weight_kg", "compare": "numeric", "rel_tol": 0.005}, systems=systems)

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, owners={"item": "erp"})

    assert found == [
        ("drift", "item_id=3", "weight_kg", "erp+wms", "erp", "100.0", "99.4"),
        ("drift", "item_id=4", "weight_kg", "erp+wms", "erp", "99.4", "100.0"),
    ]


@pytest.mark.parametrize(
    ("compare", "value", "shown"),
    [
        ("exact", "EA", "EA"),
        ("text", "EA", "EA"),
        ("numeric", Decimal("1.50"), "1.50"),
        ("time", datetime(2026, 11, 2, 10), "2026-11-02 10:00:00"),
    ],
)
def test_null_equals_null_and_differs_from_a_value(run_rule, compare, value, shown):
    erp = pl.DataFrame({"item_id": ["1", "2", "3"], "value": [None, None, value]})
    wms = pl.DataFrame({"item_id": ["1", "2", "3"], "value": [None, value, None]})
    rule = _match({"name": "value", "compare": compare})

    found = run_rule(
        rule,
        {"erp.item": erp, "wms.item": wms},
        columns=("problem", "key", "owner_value", "other_value"),
    )

    assert found == [("drift", "item_id=2", None, shown), ("drift", "item_id=3", shown, None)]


def test_numeric_null_against_a_number_is_drift(run_rule):
    erp = pl.DataFrame({"item_id": ["1", "2", "3"], "weight_kg": _decimals(None, None, "0")})
    wms = pl.DataFrame({"item_id": ["1", "2", "3"], "weight_kg": _decimals(None, "0", None)})
    rule = _match({"name": "weight_kg", "compare": "numeric", "abs_tol": 1})

    found = run_rule(
        rule, {"erp.item": erp, "wms.item": wms}, columns=("key", "owner_value", "other_value")
    )

    assert found == [("item_id=2", None, "0"), ("item_id=3", "0", None)]


def test_text_compare_ignores_case_and_whitespace_but_not_words(run_rule):
    erp = pl.DataFrame(
        {"item_id": ["1", "2", "3"], "description": ["Dock Plate", "Dock Plate", "Dock Plate"]}
    )
    wms = pl.DataFrame(
        {
            "item_id": ["1", "2", "3"],
            "description": ["\tDOCK plate\n", "Dock  \t Plate", "Dock Plates"],
        }
    )
    rule = _match({"name": "description", "compare": "text"})

    found = run_rule(rule, {"erp.item": erp, "wms.item": wms}, columns=("key", "other_value"))

    assert found == [("item_id=3", "Dock Plates")]


def test_exact_compare_sees_case(run_rule):
    erp = pl.DataFrame({"item_id": ["1", "2"], "uom": ["EA", "EA"]})
    wms = pl.DataFrame({"item_id": ["1", "2"], "uom": ["EA", "ea"]})

    found = run_rule(
        _match({"name": "uom"}), {"erp.item": erp, "wms.item": wms}, columns=("key", "field")
    )

    assert found == [("item_id=2", "uom")]


def test_time_compare_is_by_instant_across_time_zones(run_rule):
    utc = pa.timestamp("us", tz="UTC")
    wms = pa.table(
        {
            "shipment_id": ["SH1", "SH2", "SH3"],
            "shipped_at": pa.array([datetime(2026, 11, 2, 15, 0, 0)] * 3, utc),
        }
    )
    # 10:00 in New York is 15:00 UTC; SH2 is 60 s off (within), SH3 61 s (beyond).
    new_york = pa.array(
        [
            datetime(2026, 11, 2, 15, 0, 0),
            datetime(2026, 11, 2, 15, 1, 0),
            datetime(2026, 11, 2, 15, 1, 1),
        ],
        utc,
    ).cast(pa.timestamp("us", tz="America/New_York"))
    tms = pa.table({"shipment_id": ["SH1", "SH2", "SH3"], "shipped_at": new_york})
    rule = _match(
        {"name": "shipped_at", "compare": "time", "window_seconds": 60},
        systems=("wms", "tms"),
        entity="shipment",
        key=("shipment_id",),
    )

    found = run_rule(
        rule,
        {"wms.shipment": wms, "tms.shipment": tms},
        owners={"shipment": "wms"},
        field_owners={("shipment", "shipped_at"): "tms"},
        columns=("problem", "key", "field", "systems", "owner_system"),
    )

    assert found == [("drift", "shipment_id=SH3", "shipped_at", "tms+wms", "tms")]


def test_time_compare_reads_offsets_written_in_text(run_rule):
    erp = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH2"],
            "shipped_at": ["2026-11-02 10:00:00+01:00", "2026-11-02 10:00:00+01:00"],
        }
    )
    tms = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH2"],
            "shipped_at": ["2026-11-02 09:00:00Z", "2026-11-02 10:00:00Z"],
        }
    )
    rule = _match(
        {"name": "shipped_at", "compare": "time"},
        systems=("erp", "tms"),
        entity="shipment",
        key=("shipment_id",),
    )

    found = run_rule(rule, {"erp.shipment": erp, "tms.shipment": tms}, columns=("key",))

    assert found == [("shipment_id=SH2",)]


def test_duplicate_keys_are_reported_and_not_paired(run_rule):
    # Item 7 is twice in the WMS: one finding, no drift and nothing missing for it. Item 8 is
    # three times in the ERP and once in the WMS; item 9 twice in each: one finding per
    # system that repeats it, never a row per pairing (that would be 3 for 8 and 4 for 9).
    erp = pl.DataFrame(
        {
            "item_id": ["1", "7", "8", "8", "8", "9", "9"],
            "uom": ["EA", "EA", "CS", "CS", "CS", "EA", "PL"],
        }
    )
    wms = pl.DataFrame(
        {"item_id": ["1", "7", "7", "8", "9", "9"], "uom": ["EA", "PL", "EA", "PL", "EA", "KG"]}
    )
    rule = _match({"name": "uom"})

    found = run_rule(
        rule,
        {"erp.item": erp, "wms.item": wms},
        owners={"item": "erp"},
        columns=("problem", "key", "field", "systems", "other_value", "message"),
    )

    assert found == [
        (
            "duplicate_key_in_erp",
            "item_id=8",
            "",
            "erp",
            "3",
            "erp has 3 item records with this key, so none is compared",
        ),
        (
            "duplicate_key_in_erp",
            "item_id=9",
            "",
            "erp",
            "2",
            "erp has 2 item records with this key, so none is compared",
        ),
        (
            "duplicate_key_in_wms",
            "item_id=7",
            "",
            "wms",
            "2",
            "wms has 2 item records with this key, so none is compared",
        ),
        (
            "duplicate_key_in_wms",
            "item_id=9",
            "",
            "wms",
            "2",
            "wms has 2 item records with this key, so none is compared",
        ),
    ]


def test_a_missing_key_never_matches_a_missing_key(run_rule):
    erp = pl.DataFrame({"item_id": ["1", None], "uom": ["EA", "EA"]})
    wms = pl.DataFrame({"item_id": ["1", None], "uom": ["EA", "EA"]})

    found = run_rule(
        _match({"name": "uom"}), {"erp.item": erp, "wms.item": wms}, columns=("problem", "key")
    )

    assert found == [("missing_in_erp", "item_id=NULL"), ("missing_in_wms", "item_id=NULL")]


def test_owner_outside_the_pair_leaves_owner_system_empty(run_rule):
    # Harborline owns shipments in the WMS; comparing ERP with TMS, neither side is right.
    erp = pl.DataFrame({"shipment_id": ["SH1", "SH2"], "order_id": ["SO1", "SO2"]})
    tms = pl.DataFrame({"shipment_id": ["SH1"], "order_id": ["SO9"]})
    rule = _match(
        {"name": "order_id"}, systems=("tms", "erp"), entity="shipment", key=("shipment_id",)
    )

    found = run_rule(
        rule,
        {"erp.shipment": erp, "tms.shipment": tms},
        owners={"shipment": "wms"},
        columns=("problem", "key", "owner_system", "owner_value", "other_value", "message"),
    )

    assert found == [
        ("drift", "shipment_id=SH1", None, "SO9", "SO1", "erp order_id SO1 differs from tms SO9"),
        (
            "missing_in_tms",
            "shipment_id=SH2",
            None,
            None,
            "shipment_id=SH2",
            "this shipment is in erp but missing in tms",
        ),
    ]


def test_composite_key_and_money_at_risk(run_rule):
    erp = pl.DataFrame(
        {
            "order_id": ["SO1", "SO1", "SO2"],
            "line_no": [1, 2, 1],
            "amount": _decimals("100.00", "50.00", "-30.00"),
        }
    )
    finance = pl.DataFrame(
        {"order_id": ["SO1", "SO1"], "line_no": [1, 2], "amount": _decimals("100.00", "57.25")}
    )
    rule = _match(
        {"name": "amount", "compare": "numeric"},
        systems=("finance", "erp"),
        entity="sales_order_line",
        key=("order_id", "line_no"),
        money_field="amount",
    )

    found = run_rule(
        rule,
        {"erp.sales_order_line": erp, "finance.sales_order_line": finance},
        owners={"sales_order_line": "erp"},
        columns=("problem", "key", "owner_value", "other_value", "amount_at_risk"),
    )

    assert found == [
        ("drift", "order_id=SO1, line_no=2", "50.00", "57.25", Decimal("7.25")),
        (
            "missing_in_finance",
            "order_id=SO2, line_no=1",
            "order_id=SO2, line_no=1",
            None,
            Decimal("30.00"),
        ),
    ]


# --- configuration errors -----------------------------------------------------------


ITEMS = {
    "erp.item": pl.DataFrame({"item_id": ["1"], "weight_kg": [1.0]}),
    "wms.item": pl.DataFrame({"item_id": ["1"], "weight": [1.0]}),
}


def _compile(rule: dict) -> None:
    compile_rule(parse_rule(rule), build_context(ITEMS))


def test_a_field_missing_on_one_side_names_the_field():
    with pytest.raises(RuleError) as raised:
        _compile(_match({"name": "weight_kg", "compare": "numeric"}))
    assert str(raised.value) == (
        "rule 'sync' fields[0].name: wms.item has no column 'weight_kg'; "
        "its columns are: item_id, weight."
    )


def test_an_unknown_snapshot_is_refused():
    with pytest.raises(RuleError) as raised:
        _compile(_match(systems=("erp", "tms")))
    assert str(raised.value) == (
        "rule 'sync' key: no snapshot 'tms.item' in this workspace; "
        "map a source onto it, or use one of: erp.item, wms.item."
    )


def test_a_key_compared_as_it_is_joins_by_its_own_column():
    """Each side streams through the join with no copy of a key it need not change."""
    tables = {
        "erp.item": pl.DataFrame({"item_id": ["1"], "weight": [1.0]}),
        "wms.item": pl.DataFrame({"item_id": ["1"], "weight": [1.0]}),
    }
    as_is = compile_rule(parse_rule(_match({"name": "weight"})), build_context(tables))
    joins = [j.sql("duckdb") for j in as_is.find_all(exp.Join) if j.args.get("side") == "FULL"]
    assert joins == ['FULL OUTER JOIN "wms_rows" ON "erp_rows"."item_id" = "wms_rows"."item_id"']
    side = next(cte for cte in as_is.find_all(exp.CTE) if cte.alias == "erp_rows")
    assert [column.alias_or_name for column in side.this.expressions] == [
        "item_id",
        "weight",
        "present",
    ]

    trimmed = _match({"name": "weight"}, normalise={"item_id": ["trim"]})
    made = compile_rule(parse_rule(trimmed), build_context(tables))
    joins = [j.sql("duckdb") for j in made.find_all(exp.Join) if j.args.get("side") == "FULL"]
    assert joins == [
        'FULL OUTER JOIN "wms_rows" ON "erp_rows"."item_id__joined" = "wms_rows"."item_id__joined"'
    ]


@pytest.mark.parametrize(
    ("column", "key", "at"),
    [
        ("present", ["item_id"], "fields[0].name"),
        ("item_id__joined", ["item_id"], "fields[0].name"),
        ("in_wms", ["item_id"], "fields[0].name"),
        ("present", ["present"], "key"),
    ],
)
def test_a_column_named_like_one_of_the_querys_own_is_refused(column, key, at):
    tables = {
        ref: pl.DataFrame({"item_id": ["1"], column: ["a"]}) for ref in ("erp.item", "wms.item")
    }
    rule = _match({"name": column}, key=key) if at != "key" else _match(key=key)
    with pytest.raises(RuleError) as raised:
        compile_rule(parse_rule(rule), build_context(tables))
    assert str(raised.value) == (
        f"rule 'sync' {at}: {column!r} is a name the match query gives a column of its own; "
        "map the column under another name in the source mappings."
    )

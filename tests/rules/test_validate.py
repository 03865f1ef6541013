"""validate rules: each check on tiny inline tables, with the findings expected beside them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest

from rules.compile import compile_rule
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule

SHIPMENT_OWNERS = {"shipment": "wms"}
SHIPMENT_FIELD_OWNERS = {("shipment", "delivered_at"): "tms"}


def test_not_null_reports_each_row_without_a_value(run_rule):
    shipments = pl.DataFrame(
        {"shipment_id": ["SH1", "SH2", "SH3"], "carrier_scac": ["ODFL", None, ""]}
    )
    rule = {
        "id": "carrier-set",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [{"check": "not_null", "column": "carrier_scac"}],
    }

    found = run_rule(rule, {"tms.shipment": shipments}, owners=SHIPMENT_OWNERS)

    assert found == [("not_null", "shipment_id=SH2", "carrier_scac", "tms", "wms", None, None)]


def test_reference_reports_unknown_values_and_skips_nulls(run_rule):
    shipments = pl.DataFrame(
        {"shipment_id": ["SH1", "SH2", "SH3", "SH4"], "scac": ["ODFL", "XXXX", None, "odfl"]}
    )
    carriers = pl.DataFrame({"carrier_scac": ["ODFL", "UPSN", "UPSN"]})
    rule = {
        "id": "carrier-known",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [
            {
                "check": "reference",
                "column": "scac",
                "to": "erp.carrier",
                "to_column": "carrier_scac",
            }
        ],
    }

    found = run_rule(
        rule,
        {"tms.shipment": shipments, "erp.carrier": carriers},
        owners=SHIPMENT_OWNERS,
        columns=("problem", "key", "field", "other_value", "message"),
    )

    assert found == [
        (
            "reference",
            "shipment_id=SH2",
            "scac",
            "XXXX",
            "scac XXXX is not a known erp.carrier carrier_scac",
        ),
        (
            "reference",
            "shipment_id=SH4",
            "scac",
            "odfl",
            "scac odfl is not a known erp.carrier carrier_scac",
        ),
    ]


def test_accepted_values_compares_text_exactly(run_rule):
    items = pl.DataFrame({"item_id": ["1", "2", "3", "4"], "uom": ["EA", "cs", None, "KG"]})
    rule = {
        "id": "uom-known",
        "kind": "validate",
        "table": "erp.item",
        "checks": [
            {"check": "accepted_values", "column": "uom", "values": ["EA", "CS", "PL", "KG"]}
        ],
    }

    found = run_rule(
        rule, {"erp.item": items}, columns=("problem", "key", "other_value", "message")
    )

    assert found == [("accepted_values", "item_id=2", "cs", "uom cs is not one of EA, CS, PL, KG")]


def test_accepted_values_compares_numbers_as_numbers(run_rule):
    lines = pl.DataFrame({"line_id": [1, 2, 3], "pack_size": [6, 12, 7]})
    rule = {
        "id": "pack-sizes",
        "kind": "validate",
        "table": "erp.sales_order_line",
        "checks": [{"check": "accepted_values", "column": "pack_size", "values": [6, 12.0]}],
    }

    found = run_rule(rule, {"erp.sales_order_line": lines}, columns=("key", "other_value"))

    assert found == [("line_id=3", "7")]


def test_range_honours_exclusive_and_inclusive_bounds(run_rule):
    items = pl.DataFrame(
        {
            "item_id": ["1", "2", "3", "4", "5", "6"],
            "weight_kg": [
                Decimal(v) if v else None for v in ("0.00", "0.01", "-1.50", None, "50.00", "50.01")
            ],
        }
    )
    rule = {
        "id": "weight-positive",
        "kind": "validate",
        "table": "erp.item",
        "checks": [
            {"check": "range", "column": "weight_kg", "min": 0, "exclusive_min": True, "max": 50}
        ],
    }

    found = run_rule(rule, {"erp.item": items}, columns=("key", "other_value", "message"))

    assert found == [
        (
            "item_id=1",
            "0.00",
            "weight_kg 0.00 is outside the allowed range (above 0 and at most 50)",
        ),
        (
            "item_id=3",
            "-1.50",
            "weight_kg -1.50 is outside the allowed range (above 0 and at most 50)",
        ),
        (
            "item_id=6",
            "50.01",
            "weight_kg 50.01 is outside the allowed range (above 0 and at most 50)",
        ),
    ]


def test_pattern_reports_values_not_matching(run_rule):
    customers = pl.DataFrame(
        {"customer_id": ["C1", "C2", "C3", "C4"], "postal_code": ["12345", "1234", "ABCDE", None]}
    )
    rule = {
        "id": "postal-code-shape",
        "kind": "validate",
        "table": "erp.customer",
        "checks": [{"check": "pattern", "column": "postal_code", "regex": "^[0-9]{5}$"}],
    }

    found = run_rule(rule, {"erp.customer": customers}, columns=("problem", "key", "other_value"))

    assert found == [("pattern", "customer_id=C2", "1234"), ("pattern", "customer_id=C3", "ABCDE")]


def test_expression_fails_false_and_null_predicates(run_rule):
    # Harborline's delivered-before-pickup rule; SH3 has no pickup time, so it cannot hold.
    shipments = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH2", "SH3", "SH4"],
            "shipped_at": [
                datetime(2026, 11, 2, 10),
                datetime(2026, 11, 2, 10),
                None,
                datetime(2026, 11, 2, 10),
            ],
            "delivered_at": [
                datetime(2026, 11, 3, 9),
                datetime(2026, 11, 2, 7),
                datetime(2026, 11, 3),
                None,
            ],
        }
    )
    rule = {
        "id": "shipment-delivered-after-pickup",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [
            {
                "check": "expression",
                "name": "delivered_at",
                "predicate": "delivered_at IS NULL OR delivered_at >= shipped_at",
            }
        ],
    }

    found = run_rule(
        rule,
        {"tms.shipment": shipments},
        owners=SHIPMENT_OWNERS,
        field_owners=SHIPMENT_FIELD_OWNERS,
        columns=(
            "kind",
            "entity",
            "problem",
            "key",
            "field",
            "systems",
            "owner_system",
            "other_value",
        ),
    )

    assert found == [
        (
            "validate",
            "shipment",
            "expression",
            "shipment_id=SH2",
            "delivered_at",
            "tms",
            "tms",
            "2026-11-02 07:00:00",
        ),
        (
            "validate",
            "shipment",
            "expression",
            "shipment_id=SH3",
            "delivered_at",
            "tms",
            "tms",
            "2026-11-03 00:00:00",
        ),
    ]


def test_expression_named_after_no_column_shows_the_first_column_read(run_rule):
    lines = pl.DataFrame(
        {"order_id": ["SO1", "SO2"], "quantity": [5, 2], "backorder_quantity": [1, 3]}
    )
    rule = {
        "id": "backorder-within-order",
        "kind": "validate",
        "table": "erp.sales_order_line",
        "checks": [
            {
                "check": "expression",
                "name": "backorder_bounded",
                "predicate": "backorder_quantity <= quantity",
            }
        ],
    }

    found = run_rule(rule, {"erp.sales_order_line": lines}, columns=("key", "field", "other_value"))

    assert found == [("order_id=SO2", "backorder_bounded", "3")]


def test_unique_reports_one_finding_per_repeated_group_and_ignores_nulls(run_rule):
    invoices = pl.DataFrame(
        {
            "invoice_id": ["AP1", "AP2", "AP3", "AP4", "AP5", "AP6", "AP7"],
            "carrier_scac": ["ODFL", "ODFL", "ODFL", "UPSN", "UPSN", None, None],
            "carrier_invoice_no": ["I-1", "I-1", "I-1", "I-1", "I-2", "I-9", "I-9"],
        }
    )
    rule = {
        "id": "invoice-once",
        "kind": "validate",
        "table": "finance.freight_invoice",
        "checks": [{"check": "unique", "columns": ["carrier_scac", "carrier_invoice_no"]}],
    }

    found = run_rule(
        rule,
        {"finance.freight_invoice": invoices},
        owners={"freight_invoice": "finance"},
        columns=("problem", "key", "field", "owner_system", "other_value"),
    )

    assert found == [
        (
            "unique",
            "carrier_scac=ODFL, carrier_invoice_no=I-1",
            "carrier_scac+carrier_invoice_no",
            "finance",
            "3",
        )
    ]


def test_declared_key_filter_and_several_checks(run_rule):
    # The filter reads the period bounds; SO9 was ordered before the period and is left out.
    lines = pl.DataFrame(
        {
            "order_id": ["SO1", "SO1", "SO2", "SO9"],
            "line_no": [1, 2, 1, 1],
            "item_id": ["A", None, "B", None],
            "quantity": [3, 0, -2, 4],
            "ordered_at": [datetime(2026, 11, day) for day in (2, 2, 5, 1)],
        }
    )
    rule = {
        "id": "order-lines-sane",
        "kind": "validate",
        "table": "erp.sales_order_line",
        "key": ["order_id", "line_no"],
        "filter": "ordered_at >= period_start",
        "checks": [
            {"check": "not_null", "column": "item_id"},
            {"check": "range", "column": "quantity", "min": 1},
        ],
    }

    found = run_rule(
        rule,
        {"erp.sales_order_line": lines},
        period=("2026-11-02 00:00:00+00", "2026-12-01 00:00:00+00"),
        columns=("problem", "key", "field", "other_value"),
    )

    assert found == [
        ("not_null", "order_id=SO1, line_no=2", "item_id", None),
        ("range", "order_id=SO1, line_no=2", "quantity", "0"),
        ("range", "order_id=SO2, line_no=1", "quantity", "-2"),
    ]


def test_rows_sharing_a_key_make_one_finding_that_counts_them(run_rule):
    # Without a declared key the first column names a row; SH1 has two events without a time.
    events = pl.DataFrame(
        {"shipment_id": ["SH1", "SH1", "SH1", "SH2"], "event_time": [None, None, "10:00", None]}
    )
    rule = {
        "id": "event-times",
        "kind": "validate",
        "table": "tms.shipment_event",
        "checks": [{"check": "not_null", "column": "event_time"}],
    }

    found = run_rule(rule, {"tms.shipment_event": events}, columns=("key", "message"))

    assert found == [
        ("shipment_id=SH1", "event_time has no value (2 rows with this key)"),
        ("shipment_id=SH2", "event_time has no value"),
    ]


def test_checks_on_single_rows_share_one_scan_and_a_row_failing_two_gives_two_findings(run_rule):
    items = pl.DataFrame(
        {
            "item_id": ["A1", "A2", "A3", "A3"],
            "description": [None, "Pallet", "crate", "Crate"],
            "unit_cost": [Decimal("-1.00"), Decimal("2.00"), Decimal("500.00"), Decimal("3.00")],
        }
    )
    rule = {
        "id": "items-sane",
        "kind": "validate",
        "table": "erp.item",
        "checks": [
            {"check": "not_null", "column": "description"},
            {"check": "range", "column": "unit_cost", "min": 0, "max": 100},
            {"check": "pattern", "column": "description", "regex": "^[A-Z]"},
            {"check": "length", "column": "item_id", "max": 2},
            {"check": "unique", "columns": ["item_id"]},
            {"check": "accepted_values", "column": "description", "values": ["Pallet", "Crate"]},
        ],
    }

    found = run_rule(
        rule, {"erp.item": items}, columns=("problem", "key", "field", "other_value", "message")
    )

    assert found == [
        (
            "accepted_values",
            "item_id=A3",
            "description",
            "crate",
            "description crate is not one of Pallet, Crate",
        ),
        ("not_null", "item_id=A1", "description", None, "description has no value"),
        (
            "pattern",
            "item_id=A3",
            "description",
            "crate",
            "description crate does not match the pattern ^[A-Z]",
        ),
        (
            "range",
            "item_id=A1",
            "unit_cost",
            "-1.00",
            "unit_cost -1.00 is outside the allowed range (at least 0 and at most 100)",
        ),
        (
            "range",
            "item_id=A3",
            "unit_cost",
            "500.00",
            "unit_cost 500.00 is outside the allowed range (at least 0 and at most 100)",
        ),
        ("unique", "item_id=A3", "item_id", "2", "item_id is not unique in erp.item: 2 rows"),
    ]
    # Four checks on single rows read the table once; unique and accepted values once each.
    sql = compile_rule(parse_rule(rule), build_context({"erp.item": items})).sql("duckdb")
    assert sql.count('"erp__item"') == 3


# --- configuration errors -----------------------------------------------------------


def _compile(rule: dict, tables: dict) -> None:
    compile_rule(parse_rule(rule), build_context(tables))


SHIPMENTS = {"tms.shipment": pl.DataFrame({"shipment_id": ["SH1"], "shipped_at": [None]})}


def _expression_rule(predicate: str) -> dict:
    return {
        "id": "x",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [{"check": "expression", "name": "p", "predicate": predicate}],
    }


def test_unknown_column_in_a_predicate_names_rule_key_and_columns():
    with pytest.raises(RuleError) as raised:
        _compile(_expression_rule("foo > 1"), SHIPMENTS)
    assert str(raised.value) == (
        "rule 'x' checks[0].predicate: unknown column 'foo'; "
        "available columns are: shipment_id, shipped_at."
    )


def test_unsafe_predicate_is_refused():
    with pytest.raises(RuleError) as raised:
        _compile(_expression_rule("shipment_id IN (SELECT 1)"), SHIPMENTS)
    assert str(raised.value) == (
        "rule 'x' checks[0].predicate: 'shipment_id IN (SELECT 1)' is not allowed: "
        "it contains a subquery. Only single-row expressions over the row's own columns "
        "are accepted."
    )


def test_unknown_checked_column_names_the_check():
    rule = {
        "id": "x",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [
            {"check": "not_null", "column": "shipment_id"},
            {"check": "not_null", "column": "scac"},
        ],
    }
    with pytest.raises(RuleError) as raised:
        _compile(rule, SHIPMENTS)
    assert str(raised.value) == (
        "rule 'x' checks[1].column: tms.shipment has no column 'scac'; "
        "its columns are: shipment_id, shipped_at."
    )


def test_unknown_table_names_the_snapshots_there_are():
    rule = {
        "id": "x",
        "kind": "validate",
        "table": "tms.shipment",
        "checks": [{"check": "reference", "column": "shipment_id", "to": "erp.shipment"}],
    }
    with pytest.raises(RuleError) as raised:
        _compile(rule, SHIPMENTS)
    assert str(raised.value) == (
        "rule 'x' checks[0].to_column: no snapshot 'erp.shipment' in this workspace; "
        "map a source onto it, or use one of: tms.shipment."
    )

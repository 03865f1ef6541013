"""aggregate rules: totals grouped alike on two sides, compared with tolerances."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from rules.compile import compile_rule
from tallyclerk.errors import RuleError

from .conftest import build_context, parse_rule

MONEY = (
    "problem",
    "key",
    "field",
    "systems",
    "owner_system",
    "owner_value",
    "other_value",
    "amount_at_risk",
)


def _decimals(*values: str | None) -> pl.Series:
    return pl.Series(
        [None if value is None else Decimal(value) for value in values], dtype=pl.Decimal(12, 2)
    )


CARRIER_INVOICE_RULE = {
    "id": "carrier-invoice-vs-rated-cost",
    "kind": "aggregate",
    "entity": "freight_invoice",
    "left": {
        "table": "finance.freight_invoice",
        "by": ["carrier_scac", "carrier_invoice_no"],
        "measure": "amount",
    },
    "right": {
        "table": "tms.shipment",
        "by": ["carrier_scac", "carrier_invoice_no"],
        "measure": "freight_cost",
        "filter": "carrier_invoice_no IS NOT NULL",
    },
    "abs_tol": 1.00,
    "rel_tol": 0.02,
    "money": True,
}


def test_carrier_invoice_against_rated_cost_of_its_shipments(run_rule):
    invoices = pl.DataFrame(
        {
            "invoice_id": ["AP1", "AP2", "AP3", "AP4"],
            "carrier_scac": ["ODFL", "ODFL", "ODFL", "UPSN"],
            "carrier_invoice_no": ["INV-1", "INV-2", "INV-3", "INV-4"],
            "amount": _decimals("300.00", "515.00", "102.00", "50.00"),
        }
    )
    # INV-1 agrees; INV-2 is 15.00 over (beyond 1.00 and 2 %); INV-3 is 2.00 over, within 2 %;
    # INV-4 has no shipments; INV-5 was never billed; SH7 is not on any invoice yet.
    shipments = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH2", "SH3", "SH4", "SH5", "SH7"],
            "carrier_scac": ["ODFL", "ODFL", "ODFL", "ODFL", "UPSN", "UPSN"],
            "carrier_invoice_no": ["INV-1", "INV-1", "INV-2", "INV-3", "INV-5", None],
            "freight_cost": _decimals("100.00", "200.00", "500.00", "100.00", "200.00", "75.00"),
        }
    )

    found = run_rule(
        CARRIER_INVOICE_RULE,
        {"finance.freight_invoice": invoices, "tms.shipment": shipments},
        owners={"freight_invoice": "finance"},
        columns=MONEY,
    )

    assert found == [
        (
            "missing_in_finance",
            "carrier_scac=UPSN, carrier_invoice_no=INV-5",
            "amount",
            "finance+tms",
            "finance",
            "0.00",
            "200.00",
            Decimal("200.00"),
        ),
        (
            "missing_in_tms",
            "carrier_scac=UPSN, carrier_invoice_no=INV-4",
            "amount",
            "finance+tms",
            "finance",
            "50.00",
            "0.00",
            Decimal("50.00"),
        ),
        (
            "total_mismatch",
            "carrier_scac=ODFL, carrier_invoice_no=INV-2",
            "amount",
            "finance+tms",
            "finance",
            "515.00",
            "500.00",
            Decimal("15.00"),
        ),
    ]


def test_messages_say_which_side_has_what(run_rule):
    invoices = pl.DataFrame(
        {
            "carrier_scac": ["ODFL", "ODFL"],
            "carrier_invoice_no": ["INV-2", "INV-4"],
            "amount": _decimals("515.00", "50.00"),
        }
    )
    shipments = pl.DataFrame(
        {
            "carrier_scac": ["ODFL"],
            "carrier_invoice_no": ["INV-2"],
            "freight_cost": _decimals("500.00"),
        }
    )

    found = run_rule(
        CARRIER_INVOICE_RULE,
        {"finance.freight_invoice": invoices, "tms.shipment": shipments},
        owners={"freight_invoice": "finance"},
        columns=("key", "message"),
    )

    assert found == [
        (
            "carrier_scac=ODFL, carrier_invoice_no=INV-2",
            "tms amount 500.00 differs from owner finance 515.00 beyond tolerance",
        ),
        (
            "carrier_scac=ODFL, carrier_invoice_no=INV-4",
            "finance amount 50.00 has no counterpart in tms",
        ),
    ]


def _totals_rule(abs_tol: float = 0.0, rel_tol: float = 0.0, *, swap: bool = False) -> dict:
    sides = [
        {"table": "erp.sales_order", "by": ["order_id"], "measure": "total_amount"},
        {"table": "finance.ar_invoice", "by": ["order_id"], "measure": "amount"},
    ]
    left, right = reversed(sides) if swap else sides
    return {
        "id": "order-invoiced",
        "kind": "aggregate",
        "entity": "sales_order",
        "left": left,
        "right": right,
        "abs_tol": abs_tol,
        "rel_tol": rel_tol,
        "money": True,
    }


def test_a_difference_of_exactly_the_absolute_tolerance_is_equal(run_rule):
    # SO1 is 0.01 apart, the tolerance: equal, though in DOUBLE 1.01 - 1.00 exceeds 0.01.
    orders = pl.DataFrame(
        {"order_id": ["SO1", "SO2", "SO3"], "total_amount": _decimals("1.00", "10.00", "200.00")}
    )
    invoiced = pl.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3", "I4"],
            "order_id": ["SO1", "SO2", "SO3", "SO3"],
            "amount": _decimals("1.01", "10.02", "100.00", "99.00"),
        }
    )

    found = run_rule(
        _totals_rule(abs_tol=0.01),
        {"erp.sales_order": orders, "finance.ar_invoice": invoiced},
        columns=("key", "amount_at_risk"),
    )

    assert found == [("order_id=SO2", Decimal("0.02")), ("order_id=SO3", Decimal("1.00"))]


@pytest.mark.parametrize("swap", [False, True])
def test_relative_tolerance_is_symmetric_and_exact_at_the_boundary(run_rule, swap):
    # 0.5 % of the larger total, 200.00, is 1.00: SO1 and SO2 are exactly that far apart,
    # SO3 and SO4 a cent further; which side is left must not matter.
    orders = pl.DataFrame(
        {
            "order_id": ["SO1", "SO2", "SO3", "SO4"],
            "total_amount": _decimals("200.00", "199.00", "200.00", "198.99"),
        }
    )
    invoiced = pl.DataFrame(
        {
            "order_id": ["SO1", "SO2", "SO3", "SO4"],
            "amount": _decimals("199.00", "200.00", "198.99", "200.00"),
        }
    )

    found = run_rule(
        _totals_rule(rel_tol=0.005, swap=swap),
        {"erp.sales_order": orders, "finance.ar_invoice": invoiced},
        owners={"sales_order": "erp"},
        columns=("key", "owner_system", "owner_value", "other_value", "amount_at_risk"),
    )

    assert found == [
        ("order_id=SO3", "erp", "200.00", "198.99", Decimal("1.01")),
        ("order_id=SO4", "erp", "198.99", "200.00", Decimal("1.01")),
    ]


def test_short_shipment_pairs_by_columns_by_position_and_keys_by_left_names(run_rule):
    order_lines = pl.DataFrame(
        {
            "order_id": ["SO1", "SO1", "SO2", "SO3"],
            "line_no": [1, 2, 1, 1],
            "quantity": [5, 4, 10, 3],
            "backorder_quantity": [0, 0, 4, 3],
        }
    )
    # SO1/2 ships one short with no backorder; SO2/1 ships exactly what was not backordered,
    # in two shipments; SO3/1 is fully backordered and not shipped, which agrees (0 and none).
    shipment_lines = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH1", "SH2", "SH3"],
            "order_id": ["SO1", "SO1", "SO2", "SO2"],
            "order_line_no": [1, 2, 1, 1],
            "quantity": [5, 3, 2, 4],
        }
    )
    rule = {
        "id": "short-shipment-without-backorder",
        "kind": "aggregate",
        "entity": "sales_order_line",
        "left": {
            "table": "erp.sales_order_line",
            "by": ["order_id", "line_no"],
            "measure": "quantity - backorder_quantity",
        },
        "right": {
            "table": "wms.shipment_line",
            "by": ["order_id", "order_line_no"],
            "measure": "quantity",
        },
        "abs_tol": 0,
    }

    found = run_rule(
        rule,
        {"erp.sales_order_line": order_lines, "wms.shipment_line": shipment_lines},
        owners={"sales_order_line": "erp"},
        columns=MONEY,
    )

    assert found == [
        ("total_mismatch", "order_id=SO1, line_no=2", "quantity", "erp+wms", "erp", "4", "3", None)
    ]


def test_inventory_value_joins_item_cost_and_filters_the_ledger(run_rule):
    balances = pl.DataFrame(
        {
            "location_id": ["WH01", "WH01", "WH02", "WH03"],
            "item_id": ["A", "B", "A", "B"],
            "on_hand_qty": [10, 4, 5, 2],
        }
    )
    items = pl.DataFrame(
        {
            "item_id": ["A", "B"],
            "location_id": ["ignored", "ignored"],
            "unit_cost": _decimals("2.50", "10.00"),
        }
    )
    # WH01 holds 65.00 and the ledger agrees; WH02 holds 12.50 but 1,262.50 is booked;
    # WH03's 20.00 is off by exactly the tolerance; the 4000 line and December's are not read.
    journal = pl.DataFrame(
        {
            "account": ["1300", "1300", "1300", "4000", "1300", "1300"],
            "location_id": ["WH01", "WH02", "WH03", "WH02", "WH02", "WH03"],
            "amount": _decimals("65.00", "1262.50", "19.00", "-500.00", "7.00", "999.00"),
            "posting_date": [date(2026, 11, 30)] * 4 + [date(2026, 12, 1), date(2026, 12, 2)],
        }
    )
    rule = {
        "id": "inventory-value-vs-ledger",
        "kind": "aggregate",
        "entity": "inventory_balance",
        "left": {
            "table": "wms.inventory_balance",
            "join": {"table": "erp.item", "on": ["item_id"]},
            "by": ["location_id"],
            "measure": "on_hand_qty * unit_cost",
        },
        "right": {
            "table": "finance.journal_line",
            "by": ["location_id"],
            "measure": "amount",
            "filter": "account = '1300' AND posting_date < period_end",
        },
        "abs_tol": 1.00,
        "money": True,
    }

    found = run_rule(
        rule,
        {"wms.inventory_balance": balances, "erp.item": items, "finance.journal_line": journal},
        owners={"inventory_balance": "wms"},
        period=("2026-11-01 00:00:00+00", "2026-12-01 00:00:00+00"),
        columns=MONEY,
    )

    assert found == [
        (
            "total_mismatch",
            "location_id=WH02",
            "amount",
            "finance+wms",
            "wms",
            "12.50",
            "1262.50",
            Decimal("1250.00"),
        )
    ]


def test_owner_outside_the_pair_reads_left_as_owner_value(run_rule):
    shipped = pl.DataFrame({"order_id": ["SO1"], "order_line_no": [1], "quantity": [3]})
    invoiced = pl.DataFrame({"order_id": ["SO1"], "order_line_no": [1], "quantity": [2]})
    rule = {
        "id": "shipped-not-invoiced",
        "kind": "aggregate",
        "entity": "sales_order_line",
        "left": {
            "table": "wms.shipment_line",
            "by": ["order_id", "order_line_no"],
            "measure": "quantity",
        },
        "right": {
            "table": "finance.ar_invoice",
            "by": ["order_id", "order_line_no"],
            "measure": "quantity",
        },
    }

    found = run_rule(
        rule,
        {"wms.shipment_line": shipped, "finance.ar_invoice": invoiced},
        owners={"sales_order_line": "erp"},
        columns=("key", "systems", "owner_system", "owner_value", "other_value", "message"),
    )

    assert found == [
        (
            "order_id=SO1, order_line_no=1",
            "finance+wms",
            None,
            "3",
            "2",
            "finance quantity 2 differs from wms 3",
        )
    ]


# --- configuration errors -----------------------------------------------------------


TABLES = {
    "erp.sales_order": pl.DataFrame({"order_id": ["SO1"], "total_amount": [1.0]}),
    "finance.ar_invoice": pl.DataFrame({"order_id": ["SO1"], "line_no": [1], "amount": [1.0]}),
}


def _compile(rule: dict) -> None:
    compile_rule(parse_rule(rule), build_context(TABLES))


def test_an_unknown_column_in_a_measure_names_the_side():
    rule = _totals_rule()
    rule["left"] = {**rule["left"], "measure": "foo * 2"}
    with pytest.raises(RuleError) as raised:
        _compile(rule)
    assert str(raised.value) == (
        "rule 'order-invoiced' left.measure: unknown column 'foo'; "
        "available columns are: order_id, total_amount."
    )


def test_an_unsafe_filter_is_refused():
    rule = _totals_rule()
    rule["right"] = {**rule["right"], "filter": "getenv('HOME') = amount"}
    with pytest.raises(RuleError) as raised:
        _compile(rule)
    assert str(raised.value) == (
        "rule 'order-invoiced' right.filter: \"getenv('HOME') = amount\" calls the unknown "
        "function getenv(). Use a standard SQL function, or one of: damerau_levenshtein, "
        "jaro_winkler_similarity, nfc_normalize, strip_accents."
    )


def test_an_unknown_join_table_is_refused():
    rule = _totals_rule()
    rule["left"] = {**rule["left"], "join": {"table": "erp.item", "on": ["order_id"]}}
    with pytest.raises(RuleError) as raised:
        _compile(rule)
    assert str(raised.value) == (
        "rule 'order-invoiced' left.join.on: no snapshot 'erp.item' in this workspace; "
        "map a source onto it, or use one of: erp.sales_order, finance.ar_invoice."
    )

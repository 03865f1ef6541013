"""aggregate rules of every shape: one-to-one, one-to-many, many-to-one and many-to-many;
cash application; the freight accrual at period end; rows a join would silently drop."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest

NOVEMBER = ("2026-11-01 00:00:00+00", "2026-12-01 00:00:00+00")
SHOWN = ("problem", "key", "owner_value", "other_value", "amount_at_risk")


def _money(*values: str | None) -> pl.Series:
    return pl.Series([None if v is None else Decimal(v) for v in values], dtype=pl.Decimal(12, 2))


def _invoices(**amounts: str) -> pl.DataFrame:
    return pl.DataFrame({"invoice_id": list(amounts), "amount": _money(*amounts.values())})


def _payments(*rows: tuple[str, str | None, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "payment_id": [row[0] for row in rows],
            "invoice_id": [row[1] for row in rows],
            "amount": _money(*(row[2] for row in rows)),
        }
    )


def _settled(expect: str = "equal", *, payments_required: bool = True, abs_tol=0.0) -> dict:
    return {
        "id": "cash",
        "kind": "aggregate",
        "entity": "payment",
        "left": {"table": "finance.ar_invoice", "by": ["invoice_id"], "measure": "amount"},
        "right": {
            "table": "finance.payment",
            "by": ["invoice_id"],
            "measure": "amount",
            "required": payments_required,
        },
        "expect": expect,
        "abs_tol": abs_tol,
        "money": True,
    }


def test_one_to_one_many_to_one_and_one_to_many(run_rule):
    # I1 paid once (1:1); I2 paid in three parts (M:1); P5 split over I3 and I4 (1:M), as
    # payment allocation rows; I4's split is 0.01 short.
    invoices = _invoices(I1="100.00", I2="90.00", I3="40.00", I4="60.00")
    payments = _payments(
        ("P1", "I1", "100.00"),
        ("P2", "I2", "30.00"),
        ("P3", "I2", "30.00"),
        ("P4", "I2", "30.00"),
        ("P5", "I3", "40.00"),
        ("P5", "I4", "59.99"),
    )

    found = run_rule(
        _settled(),
        {"finance.ar_invoice": invoices, "finance.payment": payments},
        owners={"payment": "finance"},
        columns=SHOWN,
    )

    assert found == [("total_mismatch", "invoice_id=I4", "60.00", "59.99", Decimal("0.01"))]


def test_many_to_many_totals_per_customer(run_rule):
    # Several invoices and several payments per customer, applied to no invoice in
    # particular: the customer's totals are what must agree.
    invoices = pl.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3", "I4"],
            "customer_id": ["C1", "C1", "C2", "C2"],
            "amount": _money("100.00", "50.00", "70.00", "30.00"),
        }
    )
    payments = pl.DataFrame(
        {
            "payment_id": ["P1", "P2", "P3"],
            "customer_id": ["C1", "C1", "C2"],
            "amount": _money("120.00", "30.00", "90.00"),
        }
    )
    rule = {
        **_settled(),
        "left": {"table": "finance.ar_invoice", "by": ["customer_id"], "measure": "amount"},
        "right": {"table": "finance.payment", "by": ["customer_id"], "measure": "amount"},
    }

    found = run_rule(
        rule, {"finance.ar_invoice": invoices, "finance.payment": payments}, columns=SHOWN
    )

    assert found == [("total_mismatch", "customer_id=C2", "100.00", "90.00", Decimal("10.00"))]


def test_cash_application_overpayments_and_unapplied_cash(run_rule):
    # I1 paid in part and I2 not at all are open receivables, not findings. I3 is paid 5.00
    # too much; P9 names no known invoice; P8 names none at all.
    invoices = _invoices(I1="100.00", I2="80.00", I3="50.00")
    payments = _payments(
        ("P1", "I1", "40.00"),
        ("P3", "I3", "55.00"),
        ("P9", "I9", "25.00"),
        ("P8", None, "12.00"),
    )

    found = run_rule(
        _settled("left_at_least", payments_required=False, abs_tol=0.01),
        {"finance.ar_invoice": invoices, "finance.payment": payments},
        owners={"payment": "finance"},
        columns=(*SHOWN, "message"),
    )

    assert found == [
        (
            "no_ar_invoice",
            "invoice_id=I9",
            "0.00",
            "25.00",
            Decimal("25.00"),
            "finance.payment amount 25.00 has no counterpart in finance.ar_invoice",
        ),
        (
            "no_ar_invoice",
            "invoice_id=NULL",
            "0.00",
            "12.00",
            Decimal("12.00"),
            "finance.payment amount 12.00 has no counterpart in finance.ar_invoice",
        ),
        (
            "total_mismatch",
            "invoice_id=I3",
            "50.00",
            "55.00",
            Decimal("5.00"),
            "finance.payment amount 55.00 exceeds finance.ar_invoice 50.00 beyond tolerance",
        ),
    ]


def test_freight_accrual_for_delivered_shipments_not_invoiced_by_period_end(run_rule):
    shipments = pl.DataFrame(
        {
            "shipment_id": ["SH1", "SH2", "SH3", "SH4", "SH5", "SH6"],
            "carrier_scac": ["ODFL", "ODFL", "ODFL", "UPSN", "UPSN", "UPSN"],
            "carrier_invoice_no": ["INV-1", None, None, "INV-7", None, "INV-8"],
            "delivered_at": pl.Series(
                [
                    datetime(2026, 11, 10),
                    datetime(2026, 11, 28),
                    datetime(2026, 11, 30, 23, 59),
                    datetime(2026, 11, 20),
                    datetime(2026, 12, 2),  # delivered after the cut-off: not this month's
                    datetime(2026, 11, 25),
                ],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "freight_cost": _money("100.00", "40.00", "60.00", "75.00", "500.00", "20.00"),
        }
    )
    # INV-7 arrives in December: at the cut-off its shipment still needs an accrual.
    # INV-9 bills no shipment delivered this month: not an accrual matter.
    invoices = pl.DataFrame(
        {
            "carrier_scac": ["ODFL", "UPSN", "UPSN", "UPSN"],
            "carrier_invoice_no": ["INV-1", "INV-7", "INV-8", "INV-9"],
            "invoice_date": [
                date(2026, 11, 12),
                date(2026, 12, 3),
                date(2026, 11, 29),
                date(2026, 11, 5),
            ],
            "amount": _money("100.00", "75.00", "20.00", "10.00"),
        }
    )
    rule = {
        "id": "accrual",
        "kind": "aggregate",
        "entity": "shipment",
        "left": {
            "table": "tms.shipment",
            "by": ["carrier_scac", "carrier_invoice_no"],
            "measure": "freight_cost",
            "filter": "delivered_at < period_end",
            "required": False,
        },
        "right": {
            "table": "finance.freight_invoice",
            "by": ["carrier_scac", "carrier_invoice_no"],
            "measure": "amount",
            "filter": "invoice_date < period_end",
        },
        "expect": "presence",
        "money": True,
    }

    found = run_rule(
        rule,
        {"tms.shipment": shipments, "finance.freight_invoice": invoices},
        owners={"shipment": "tms"},
        period=NOVEMBER,
        columns=("problem", "key", "amount_at_risk"),
    )

    assert found == [
        ("missing_in_finance", "carrier_scac=ODFL, carrier_invoice_no=NULL", Decimal("100.00")),
        ("missing_in_finance", "carrier_scac=UPSN, carrier_invoice_no=INV-7", Decimal("75.00")),
    ]


@pytest.mark.parametrize(
    ("expect", "expected"),
    [
        ("equal", ["A", "B"]),
        ("left_at_least", ["B"]),
        ("right_at_least", ["A"]),
    ],
)
def test_which_way_a_difference_matters(run_rule, expect, expected):
    left = pl.DataFrame({"k": ["A", "B", "C"], "v": [10, 10, 10]})
    right = pl.DataFrame({"k": ["A", "B", "C"], "v": [9, 11, 10]})
    rule = {
        "id": "totals",
        "kind": "aggregate",
        "entity": "item",
        "left": {"table": "erp.item", "by": ["k"], "measure": "v"},
        "right": {"table": "wms.item", "by": ["k"], "measure": "v"},
        "expect": expect,
    }

    found = run_rule(rule, {"erp.item": left, "wms.item": right}, columns=("key",))

    assert found == [(f"k={key}",) for key in expected]


def test_rows_a_join_leaves_out_are_findings_not_silence(run_rule):
    # Item C has no cost in the ERP: its stock drops out of WH01's value, and says so.
    # Item B is twice in the ERP: its stock would count twice, and that is said too.
    balances = pl.DataFrame(
        {
            "location_id": ["WH01", "WH01", "WH01"],
            "item_id": ["A", "B", "C"],
            "on_hand_qty": [1, 2, 3],
        }
    )
    items = pl.DataFrame({"item_id": ["A", "B", "B"], "unit_cost": _money("5.00", "1.00", "1.00")})
    ledger = pl.DataFrame({"location_id": ["WH01"], "amount": _money("9.00")})
    rule = {
        "id": "value",
        "kind": "aggregate",
        "entity": "inventory_balance",
        "left": {
            "table": "wms.inventory_balance",
            "join": {"table": "erp.item", "on": ["item_id"]},
            "by": ["location_id"],
            "measure": "on_hand_qty * unit_cost",
        },
        "right": {"table": "finance.journal_line", "by": ["location_id"], "measure": "amount"},
        "money": True,
    }
    tables = {"wms.inventory_balance": balances, "erp.item": items, "finance.journal_line": ledger}

    found = run_rule(rule, tables, columns=("problem", "key", "field", "systems", "message"))

    assert found == [
        (
            "ambiguous_join",
            "item_id=B",
            "erp.item",
            "erp+wms",
            "erp.item has 2 rows with this key, so wms.inventory_balance rows joined to it count "
            "that many times in the left totals",
        ),
        (
            "unmatched_join",
            "item_id=C",
            "erp.item",
            "erp+wms",
            "wms.inventory_balance has 1 rows with no erp.item to join, so the left totals leave "
            "them out",
        ),
    ]
    # Declared as expected, the same rows leave the totals quietly.
    rule["left"]["join"]["unmatched"] = "ignore"
    assert run_rule(rule, tables, columns=("problem",)) == []

"""The headline table: built-in entries, workspace overrides, and the figures they give."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.config import HeadlineConfig
from reports.headlines import figures, headline_table
from tallyclerk.errors import ConfigError
from tests.reports.factory import finding

FINDINGS = [
    finding(
        "shipment-posted-to-erp", "shipment_id=S1", problem="missing_in_erp", entity="shipment"
    ),
    finding(
        "shipment-posted-to-erp", "shipment_id=S2", problem="missing_in_erp", entity="shipment"
    ),
    finding(
        "shipment-posted-to-erp", "shipment_id=S3", problem="missing_in_wms", entity="shipment"
    ),
    finding("shipment-wms-vs-tms", "shipment_id=S4", entity="shipment", field="shipped_at"),
    finding(
        "carrier-invoice-vs-rated-cost",
        "carrier_scac=ACME, carrier_invoice_no=7",
        problem="total_mismatch",
        entity="freight_invoice",
        kind="aggregate",
        amount="120.50",
    ),
    finding(
        "carrier-invoice-vs-rated-cost",
        "carrier_scac=ACME, carrier_invoice_no=8",
        problem="missing_in_finance",
        entity="freight_invoice",
        kind="aggregate",
        amount="310.00",
    ),
    finding(
        "shipped-not-invoiced",
        "order_id=SO-1, order_line_no=2",
        problem="missing_in_finance",
        entity="sales_order_line",
        kind="aggregate",
    ),
    finding(
        "inventory-value-vs-ledger",
        "location_id=DC1",
        problem="total_mismatch",
        entity="inventory_balance",
        kind="aggregate",
        amount="999.99",
    ),
    finding(
        "inventory-value-vs-ledger",
        "location_id=DC2",
        problem="total_mismatch",
        entity="inventory_balance",
        kind="aggregate",
        amount="0.01",
    ),
    finding("customer-duplicates", "customer_id=C1", problem="near_duplicate", entity="customer"),
    finding("item-dupes", "item_id=9", problem="duplicate_key", entity="item", kind="duplicates"),
    finding("item-master-sync", "item_id=9", problem="drift", entity="item", field="weight_kg"),
]


def _values(table) -> dict[str, tuple[int, Decimal]]:
    return {f.headline.id: (f.count, f.amount) for f in figures(table, FINDINGS)}


def test_the_builtin_table_names_the_figures_in_business_words():
    labels = [headline.label for headline in headline_table()]
    assert labels == [
        "Shipments not posted to the ERP",
        "Warehouse confirmations delayed",
        "Freight invoices awaiting reconciliation",
        "Shipped but not invoiced",
        "Freight accrual needed",
        "Inventory value variance against the ledger",
        "Duplicate master records",
    ]


def test_each_builtin_headline_counts_exactly_its_findings():
    assert _values(headline_table()) == {
        "shipments-not-posted": (2, Decimal(0)),
        "warehouse-confirmations-delayed": (2, Decimal(0)),
        "freight-invoices-awaiting-reconciliation": (1, Decimal("120.50")),
        "shipped-not-invoiced": (1, Decimal(0)),
        "freight-accrual-needed": (1, Decimal("310.00")),
        "inventory-value-variance": (2, Decimal("1000.00")),
        "duplicate-master-records": (2, Decimal(0)),
    }


def test_a_record_with_two_findings_counts_once():
    invoice = "carrier_scac=ACME, carrier_invoice_no=7"
    twice = [
        finding("billed-twice", invoice, problem="duplicate_key", entity="freight_invoice"),
        finding("rated", invoice, problem="total_mismatch", entity="freight_invoice", amount="5"),
    ]
    by_id = {f.headline.id: f for f in figures(headline_table(), twice)}
    figure = by_id["freight-invoices-awaiting-reconciliation"]
    assert (figure.count, figure.findings, figure.amount) == (1, 2, Decimal("5"))


def test_the_value_of_a_headline_follows_its_measure():
    by_id = {f.headline.id: f for f in figures(headline_table(), FINDINGS)}
    assert by_id["shipments-not-posted"].value == 2
    assert by_id["inventory-value-variance"].value == Decimal("1000.00")


def test_a_workspace_override_changes_only_the_keys_it_sets():
    overrides = [HeadlineConfig(id="shipments-not-posted", label="Shipments missing in SAP")]
    table = headline_table(overrides)
    changed = next(h for h in table if h.id == "shipments-not-posted")
    assert changed.label == "Shipments missing in SAP"
    assert changed.measure == "count"
    assert _values(table)["shipments-not-posted"] == (2, Decimal(0))


def test_a_workspace_can_hide_a_headline_and_add_its_own():
    overrides = [
        HeadlineConfig(id="duplicate-master-records", show=False),
        HeadlineConfig.model_validate(
            {
                "id": "item-drift",
                "label": "Item master drift",
                "match": [{"rule": ["item-*"], "problem": ["drift"]}],
            }
        ),
    ]
    table = headline_table(overrides)
    assert [h.id for h in table][-1] == "item-drift"
    assert "duplicate-master-records" not in [h.id for h in table]
    assert _values(table)["item-drift"] == (1, Decimal(0))


def test_a_new_headline_without_a_match_is_refused():
    with pytest.raises(ConfigError, match=r"'cash'.*needs a `label` and at least one `match`"):
        headline_table([HeadlineConfig(id="cash", label="Cash")])


def test_remapping_a_headline_onto_other_system_names():
    overrides = [
        HeadlineConfig.model_validate(
            {
                "id": "shipments-not-posted",
                "match": [{"entity": ["shipment"], "problem": ["missing_in_sap"]}],
            }
        )
    ]
    sap = [finding("x", "shipment_id=1", problem="missing_in_sap", entity="shipment")]
    values = {f.headline.id: f.count for f in figures(headline_table(overrides), sap)}
    assert values["shipments-not-posted"] == 1

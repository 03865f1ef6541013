"""The executive report rendered from hand-made findings and earlier run folders."""

from __future__ import annotations

import re

import pytest

from engine.actions import derive_actions
from engine.config import HeadlineConfig, ReportConfig
from reports.branding import brand_for
from reports.executive import render_executive_report
from reports.history import load_history
from tests.reports.factory import finding, manifest, runs_dir, table, write_run
from tests.reports.page import Page

NOT_POSTED = [
    finding(
        "shipment-posted-to-erp",
        f"shipment_id=S{n}",
        problem="missing_in_erp",
        entity="shipment",
        systems="erp+wms",
        owner_system="wms",
        severity="critical",
    )
    for n in range(1, 5)
]
INVENTORY = finding(
    "inventory-value-vs-ledger",
    "location_id=DC1",
    problem="total_mismatch",
    entity="inventory_balance",
    kind="aggregate",
    systems="finance+wms",
    owner_system="finance",
    amount="2500.00",
)
FREIGHT = finding(
    "carrier-invoice-vs-rated-cost",
    "carrier_scac=ACME, carrier_invoice_no=7",
    problem="total_mismatch",
    entity="freight_invoice",
    kind="aggregate",
    systems="finance+tms",
    owner_system="finance",
    amount="40.00",
)
ACCRUAL = finding(
    "carrier-invoice-vs-rated-cost",
    "carrier_scac=ACME, carrier_invoice_no=9",
    problem="missing_in_finance",
    entity="freight_invoice",
    kind="aggregate",
    systems="finance+tms",
    owner_system="finance",
    amount="700.00",
)
DUPLICATE = finding(
    "customer-duplicates",
    "customer_id=C7",
    problem="duplicate_key",
    entity="customer",
    kind="duplicates",
    systems="erp",
    severity="medium",
)


@pytest.fixture
def page(tmp_path):
    # September: S1, S2 and the inventory gap; October adds S3 and the accrual.
    write_run(tmp_path, "2026-09.001", [*NOT_POSTED[:2], INVENTORY])
    write_run(tmp_path, "2026-10.001", [*NOT_POSTED[:3], INVENTORY, ACCRUAL])
    # November: S3 is posted and the accrual booked; S4, a freight gap and a duplicate are new.
    rows = [NOT_POSTED[0], NOT_POSTED[1], NOT_POSTED[3], INVENTORY, FREIGHT, DUPLICATE]
    current = manifest("2026-11.001")
    findings = table(rows)
    html = render_executive_report(
        current,
        findings,
        derive_actions(findings),
        history=load_history(runs_dir(tmp_path), current),
        brand=brand_for(None, None),
        settings=ReportConfig(currency="EUR", top_exceptions=4),
    )
    return Page(html)


def test_key_figures_and_their_change_since_the_previous_run(page):
    # October: 3 + 2500 + 700 = 3,200.00 in 5 findings; November: 2,540.00 in 6.
    assert page.text("money-at-risk") == "Money at risk EUR 2,540.00 ▼ \u2212660.00"
    assert page.text("open-findings") == "Open exceptions 6 ▲ +1"
    assert page.text("new-findings") == "New since last run 3 EUR 40.00 at risk"
    assert page.text("resolved-findings") == "Resolved since last run 2 EUR 700.00 cleared"
    assert page.text("actions-to-approve") == "Actions to approve 6 in 4 batches"


def test_headline_figures_with_their_change(page):
    values = {
        ident.removeprefix("headline-"): page.attrs[ident]["data-value"]
        for ident in page.ids("headline-")
    }
    assert values == {
        "shipments-not-posted": "3",
        "warehouse-confirmations-delayed": "0",
        "freight-invoices-awaiting-reconciliation": "1",
        "shipped-not-invoiced": "0",
        "freight-accrual-needed": "0",
        "inventory-value-variance": "2500.00",
        "duplicate-master-records": "1",
    }
    assert page.text("headline-shipments-not-posted").startswith(
        "Shipments not posted to the ERP 3 no change"
    )
    assert page.text("headline-freight-accrual-needed").startswith(
        "Freight accrual needed EUR 0.00 ▼ \u2212700.00 · 0 findings"
    )
    assert "▲ +1" in page.text("headline-duplicate-master-records")


def test_money_at_risk_ranked_by_system_pair_rule_and_owner(page):
    text = page.visible_text
    pairs = text[text.index("By system pair") : text.index("By rule")]
    assert pairs.split(" at risk (EUR) ")[1].strip() == (
        "finance \u2194 wms 1 2,500.00 finance \u2194 tms 1 40.00 "
        "erp \u2194 wms 3 0.00 erp only 1 0.00"
    )
    rules = text[text.index("By rule") : text.index("By owner")]
    assert rules.split(" at risk (EUR) ")[1].strip() == (
        "inventory-value-vs-ledger 1 2,500.00 carrier-invoice-vs-rated-cost 1 40.00 "
        "shipment-posted-to-erp 3 0.00 customer-duplicates 1 0.00"
    )
    owners = text[text.index("By owner") : text.index("Ageing")]
    assert owners.split(" at risk (EUR) ")[1].strip() == "finance 2 2,540.00 wms 3 0.00 erp 1 0.00"


def test_ageing_buckets_count_from_the_first_run_that_found_each(page):
    # S1, S2, inventory: since September (61 days); S4, freight, duplicate: new (0 days).
    assert page.text("ageing") == (
        "open for findings at risk (EUR) 0-7 days 3 40.00 8-30 days 0 0.00 "
        "31-90 days 3 2,500.00 over 90 days 0 0.00"
    )


def test_trend_charts_follow_the_last_runs(page):
    assert page.text("trend-1") == (
        "Money at risk 2,500.00 2026-09.001 3,200.00 2026-10.001 2,540.00 2026-11.001"
    )
    assert page.text("trend-2") == "Open findings 3 2026-09.001 5 2026-10.001 6 2026-11.001"


def test_top_exceptions_most_money_first_then_severity(page):
    text = page.text("top-exceptions")
    assert re.findall(r"(\d+) d\b", text) == ["61", "0", "61", "61"]
    rows = re.split(r" \d+ d\b ?", text)
    assert rows[0].startswith("business key what systems owner at risk (EUR) age location_id=DC1")
    assert rows[1].startswith("carrier_scac=ACME, carrier_invoice_no=7 new freight_invoice")
    assert rows[2].startswith("shipment_id=S1 shipment critical")
    assert rows[3].startswith("shipment_id=S2 shipment critical")


def test_top_exception_links_name_the_finding_anchor(tmp_path):
    findings = table([INVENTORY, FREIGHT])
    html = render_executive_report(
        manifest("2026-11.001"),
        findings,
        None,
        history=load_history(runs_dir(tmp_path), manifest("2026-11.001")),
        brand=brand_for(None, None),
        settings=ReportConfig(),
        run_report_href="../runs/2026-11.001/report.html",
    )
    links = re.findall(r'href="([^"]+#f-[0-9a-f]+)"', html)
    assert links == [
        f"../runs/2026-11.001/report.html#f-{INVENTORY['finding_id']}",
        f"../runs/2026-11.001/report.html#f-{FREIGHT['finding_id']}",
    ]


def test_a_first_run_says_so_instead_of_a_change(tmp_path):
    findings = table(NOT_POSTED)
    page = Page(
        render_executive_report(
            manifest("2026-11.001"),
            findings,
            None,
            history=load_history(runs_dir(tmp_path), manifest("2026-11.001")),
            brand=brand_for(None, None),
            settings=ReportConfig(),
        )
    )
    assert page.text("money-at-risk") == "Money at risk 0.00 first run"
    assert page.text("new-findings") == "New since last run 4 first run"
    assert "the trend shows from the second run on" in page.visible_text


def test_workspace_headlines_replace_the_builtin_words(tmp_path):
    settings = ReportConfig(
        headlines=[
            HeadlineConfig(id="shipments-not-posted", label="Despatches missing in SAP"),
            HeadlineConfig(id="duplicate-master-records", show=False),
        ]
    )
    page = Page(
        render_executive_report(
            manifest("2026-11.001"),
            table(NOT_POSTED),
            None,
            history=load_history(runs_dir(tmp_path), manifest("2026-11.001")),
            brand=brand_for(None, None),
            settings=settings,
        )
    )
    assert page.text("headline-shipments-not-posted").startswith("Despatches missing in SAP 4")
    assert "headline-duplicate-master-records" not in page.attrs

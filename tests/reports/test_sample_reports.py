"""The sample tenant's reports, end to end: their numbers checked against its findings."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api.cli import app
from tests.reports.factory import runs_dir
from tests.reports.page import Page

# Each built-in headline written out again, independently of the headline table.
HEADLINES = {
    "shipments-not-posted": lambda f: (
        f["entity"] == "shipment" and f["problem"] == "missing_in_erp"
    ),
    "warehouse-confirmations-delayed": lambda f: (
        f["entity"] == "shipment"
        and (f["problem"] == "missing_in_wms" or f["field"] == "shipped_at")
    ),
    "freight-invoices-awaiting-reconciliation": lambda f: (
        f["entity"] == "freight_invoice"
        and f["problem"] in ("total_mismatch", "missing_in_tms", "duplicate_key", "near_duplicate")
    ),
    "shipped-not-invoiced": lambda f: "not-invoiced" in f["rule_id"],
    "freight-accrual-needed": lambda f: (
        f["entity"] == "freight_invoice" and f["problem"] == "missing_in_finance"
    ),
    "inventory-value-variance": lambda f: f["entity"] == "inventory_balance",
    "duplicate-master-records": lambda f: (
        f["entity"] in ("item", "customer", "carrier")
        and f["problem"] in ("duplicate_key", "near_duplicate")
    ),
}
MONEY = ("freight-accrual-needed", "inventory-value-variance")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample") / "harborline"
    result = CliRunner().invoke(app, ["demo", "--orders", "300", str(folder)])
    assert result.exit_code == 0, result.output
    return runs_dir(folder) / "2026-11.001"


@pytest.fixture(scope="module")
def findings(sample) -> list[dict]:
    return pq.read_table(sample / "findings.parquet").to_pylist()


def expected_headlines(findings: list[dict]) -> dict[str, str]:
    values = {}
    for ident, chosen in HEADLINES.items():
        rows = [f for f in findings if chosen(f)]
        if ident in MONEY:
            values[ident] = str(sum((f["amount_at_risk"] or Decimal(0) for f in rows), Decimal(0)))
        else:
            values[ident] = str(len({(f["entity"], f["key"]) for f in rows}))
    return values


def test_the_sample_plants_something_for_most_headlines(findings):
    values = expected_headlines(findings)
    assert [ident for ident, value in values.items() if value not in ("0", "0.00")] == [
        "shipments-not-posted",
        "freight-invoices-awaiting-reconciliation",
        "shipped-not-invoiced",
        "inventory-value-variance",
        "duplicate-master-records",
    ]


def test_executive_headlines_agree_with_the_findings(sample, findings):
    page = Page((sample / "executive.html").read_text())
    shown = {
        ident.removeprefix("headline-"): page.attrs[ident]["data-value"]
        for ident in page.ids("headline-")
    }
    assert shown == expected_headlines(findings)
    manifest = json.loads((sample / "manifest.json").read_text())
    total = sum((f["amount_at_risk"] or Decimal(0) for f in findings), Decimal(0))
    assert manifest["amount_at_risk"] == str(total)
    assert page.text("money-at-risk") == f"Money at risk {total:,.2f} first run"
    assert page.text("open-findings") == f"Open exceptions {len(findings)} first run"
    assert page.text("ageing").startswith(
        f"open for findings at risk 0-7 days {len(findings)} {total:,.2f} 8-30 days 0 0.00"
    )


def test_actions_to_approve_leave_out_what_the_policy_and_approvers_decided(sample, tmp_path):
    actions = pq.read_table(sample / "actions.parquet").to_pylist()
    # The sample's policy approves low-risk actions by itself.
    waiting = [a for a in actions if a["risk"] != "low"]
    assert len(waiting) < len(actions)
    page = Page((sample / "executive.html").read_text())
    batches = len({a["batch_id"] for a in waiting})
    assert page.text("actions-to-approve") == (
        f"Actions to approve {len(waiting)} in {batches} batches"
    )

    # Approving a batch and rendering the report again counts what still waits; on a copy,
    # so the other tests keep the sample as its run left it.
    workspace = tmp_path / "harborline"
    shutil.copytree(sample.parents[2], workspace)
    sample = runs_dir(workspace) / sample.name
    item_actions = [a for a in waiting if a["batch_id"] == "wms:item"]
    approve = ["batches", "approve", str(workspace), "wms:item", "--as", "alex"]
    assert CliRunner().invoke(app, approve).exit_code == 0
    out = tmp_path / "executive.html"
    args = ["report", str(sample), "--kind", "executive", "--out", str(out)]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert Page(out.read_text()).text("actions-to-approve") == (
        f"Actions to approve {len(waiting) - len(item_actions)} in {batches - 1} batches"
    )


def test_run_report_holds_every_finding_under_its_rule(sample, findings):
    page = Page((sample / "report.html").read_text())
    assert page.text("total-findings") == str(len(findings))
    assert sorted(page.ids("f-")) == sorted(f"f-{f['finding_id']}" for f in findings)
    for rule_id, count in Counter(f["rule_id"] for f in findings).items():
        assert len(page.ids(f"rule-{rule_id}")) == 1
        rows = [i for i in page.ids("f-") if i.removeprefix("f-") in _ids(findings, rule_id)]
        assert len(rows) == count


def test_every_top_exception_link_lands_on_a_row_of_the_run_report(sample):
    executive = (sample / "executive.html").read_text()
    run = Page((sample / "report.html").read_text())
    anchors = [part.split('"')[0] for part in executive.split('href="report.html#')[1:]]
    # Ten top exceptions, after the one root cause (the item the WMS lost).
    assert len(anchors) == 11
    assert all(anchor in run.attrs for anchor in anchors)


def test_a_batch_sheet_for_every_batch(sample, tmp_path):
    actions = pq.read_table(sample / "actions.parquet").to_pylist()
    for batch, count in Counter(a["batch_id"] for a in actions).items():
        out = tmp_path / "batch.html"
        args = ["report", str(sample), "--kind", "batch", "--batch", batch, "--out", str(out)]
        assert CliRunner().invoke(app, args).exit_code == 0
        page = Page(out.read_text())
        # The first run's batches are all new: the catalog names them by run and pair.
        assert (page.text("batch-id"), page.text("action-count")) == (
            f"{sample.name}/{batch}",
            str(count),
        )
        if batch == "wms:item":
            # The WMS keeps weights in pounds: the sheet shows them in its own field.
            assert "weight_kg WEIGHT_LB 12.54 WEIGHT_LB 10.45" in page.visible_text


def test_sample_reports_in_chromium(chromium, sample, findings, tmp_path):
    expected = expected_headlines(findings)
    for name in ("executive.html", "report.html"):
        page = chromium.new_page()
        try:
            page.open(sample / name)
            assert not page.problems, (name, page.problems)
            text = page.text()
            if name == "executive.html":
                for ident, value in expected.items():
                    card = page.evaluate(f"document.getElementById('headline-{ident}').innerText")
                    figure = f"{Decimal(value):,.2f}" if ident in MONEY else value
                    assert card.split("\n")[1] == figure, (ident, card)
            else:
                assert all(f["key"] in text for f in findings)
            shot = page.screenshot(tmp_path / f"{name}.png")
            assert shot.stat().st_size > 20_000
        finally:
            page.close()


def _ids(findings: list[dict], rule_id: str) -> set[str]:
    return {f["finding_id"] for f in findings if f["rule_id"] == rule_id}

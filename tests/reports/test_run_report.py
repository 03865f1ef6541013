"""The run report: every finding grouped by rule, the first N of each, anchors, filters."""

from __future__ import annotations

import re

from engine.actions import derive_actions
from engine.config import ReportConfig
from reports.history import load_history
from reports.run_report import render_run_report
from tests.reports.factory import finding, manifest, runs_dir, table, write_run
from tests.reports.page import Page

DRIFTS = [
    finding("item-master-sync", f"item_id={n}", field="weight_kg", amount=str(n * 10))
    for n in range(1, 16)
]
MISSING = [
    finding(
        "shipment-posted-to-erp", "shipment_id=S1", problem="missing_in_erp", severity="critical"
    ),
    finding(
        "shipment-posted-to-erp", "shipment_id=S2", problem="missing_in_erp", severity="critical"
    ),
]


def _render(tmp_path, rows, **settings) -> Page:
    findings = table(rows)
    current = manifest("2026-11.001")
    return Page(
        render_run_report(
            current,
            findings,
            derive_actions(findings),
            history=load_history(runs_dir(tmp_path), current),
            settings=ReportConfig(**settings),
        )
    )


def test_every_finding_grouped_by_rule_with_an_anchor(tmp_path):
    page = _render(tmp_path, [*DRIFTS, *MISSING])
    assert page.text("total-findings") == "17"
    assert page.text("total-amount") == "1,200.00"
    assert page.text("rules") == (
        "rule kind entity findings new money at risk "
        "item-master-sync match item 15 15 1,200.00 "
        "shipment-posted-to-erp match item 2 2 0.00"
    )
    assert sorted(page.ids("f-")) == sorted(f"f-{f['finding_id']}" for f in [*DRIFTS, *MISSING])
    assert page.attrs["rule-item-master-sync"]["data-rule"] == "item-master-sync"


def test_rows_of_a_rule_come_most_money_first(tmp_path):
    page = _render(tmp_path, DRIFTS)
    section = page.text("rule-item-master-sync")
    assert re.findall(r"item_id=(\d+)", section)[:4] == ["15", "14", "13", "12"]


def test_a_huge_rule_shows_its_first_rows_and_points_to_the_findings_file(tmp_path):
    page = _render(tmp_path, [*DRIFTS, *MISSING], rows_per_rule=10)
    section = page.text("rule-item-master-sync")
    assert len(re.findall(r"item_id=\d+", section)) == 10
    assert (
        "Showing the first 10 of 15 findings of this rule, most money at risk first. "
        "The other 5 are in findings.parquet in the run folder"
    ) in section
    assert "SELECT * FROM 'findings.parquet' WHERE rule_id = 'item-master-sync'" in section
    assert "Showing the first" not in page.text("rule-shipment-posted-to-erp")
    assert page.text("visible-count") == "12"


def test_new_findings_are_marked_against_the_previous_run(tmp_path):
    write_run(tmp_path, "2026-10.001", [MISSING[0]])
    page = _render(tmp_path, MISSING)
    assert page.text("new-count") == "1"
    assert page.attrs[f"f-{MISSING[0]['finding_id']}"]["data-new"] == "0"
    assert page.attrs[f"f-{MISSING[1]['finding_id']}"]["data-new"] == "1"
    assert page.text(f"f-{MISSING[0]['finding_id']}") == (
        "critical missing_in_erp shipment_id=S1 erp+wms erp 30 d "
        "shipment-posted-to-erp found missing_in_erp"
    )
    assert " erp new 0 d " in page.text(f"f-{MISSING[1]['finding_id']}")


def test_filters_and_sorting_are_inline_and_need_no_network(tmp_path):
    html = _render(tmp_path, DRIFTS)
    assert {"filter-text", "filter-severity", "filter-rule", "filter-new"} <= set(html.attrs)


def test_no_findings_says_every_rule_passed(tmp_path):
    page = _render(tmp_path, [])
    assert "No findings: every rule passed." in page.visible_text
    assert "filter-text" not in page.attrs

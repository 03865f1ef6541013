"""Every value from a source system or the workspace is escaped: markup shows as text."""

from __future__ import annotations

from engine.actions import derive_actions
from engine.config import BrandingConfig
from reports.branding import brand_for
from reports.pages import Kind, ReportSetup, render_kind
from tests.reports.factory import finding, manifest, runs_dir, table
from tests.reports.page import Page

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_markup_in_findings_and_branding_is_text_in_every_report(tmp_path):
    rows = [
        finding(
            "customer-master-sync",
            f"customer_id={SCRIPT}",
            entity="customer",
            field="name",
            owner_value=SCRIPT,
            other_value=f'"><img src=x onerror=alert(2)>{SCRIPT}',
            message=f"customer {SCRIPT} differs",
            amount="10",
        )
    ]
    findings = table(rows)
    setup = ReportSetup(
        runs_dir=runs_dir(tmp_path),
        brand=brand_for(BrandingConfig(partner_name=SCRIPT, footer=SCRIPT), tmp_path),
    )
    current = {**manifest("2026-11.001"), "workspace": SCRIPT}
    for kind in Kind:
        html = render_kind(
            kind, current, findings, derive_actions(findings), setup, batch="wms:customer"
        )
        assert SCRIPT not in html, kind
        assert "<img src=x" not in html, kind
        assert ESCAPED in html, kind
        # The only script a report may hold is its own inline one, in the run report.
        assert html.count("<script") == (1 if kind is Kind.run else 0), kind
        assert f"customer_id={SCRIPT}" in Page(html).visible_text, kind

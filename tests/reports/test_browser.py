"""Each report opened in real headless Chromium: quiet, self-contained, readable, printable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from engine.actions import derive_actions
from reports.pages import Kind, ReportSetup, render_kind
from tests.reports.browser import pdf_page_sizes
from tests.reports.factory import finding, manifest, runs_dir, table

A4 = (595.92, 842.88)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def close_to(size: tuple[float, float], expected: tuple[float, float]) -> bool:
    return all(abs(a - b) < 2 for a, b in zip(size, expected, strict=True))


@pytest.fixture
def open_page(chromium):
    pages = []

    def opener(path: Path, **size: int):
        page = chromium.new_page()
        pages.append(page)
        page.open(path, **size)
        return page

    yield opener
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def november(three_months) -> Path:
    return runs_dir(three_months) / "2026-11.001"


def text_of(page, ident: str) -> str:
    return page.evaluate(f"document.getElementById({json.dumps(ident)}).innerText")


def test_executive_report_renders_quietly_with_its_figures(open_page, november, tmp_path):
    page = open_page(november / "executive.html")
    assert not page.problems, page.problems
    assert text_of(page, "money-at-risk").split("\n")[:2] == ["Money at risk", "30.00"]
    assert text_of(page, "open-findings").split("\n")[:2] == ["Open exceptions", "4"]
    headline = text_of(page, "headline-shipments-not-posted").split("\n")
    assert headline[:2] == ["Shipments not posted to the ERP", "2"]
    assert text_of(page, "headline-freight-accrual-needed").split("\n")[1] == "0.00"
    shot = page.screenshot(tmp_path / "executive.png")
    assert shot.read_bytes().startswith(PNG_MAGIC) and shot.stat().st_size > 20_000


def test_executive_report_prints_on_a4_portrait(open_page, november):
    sizes = pdf_page_sizes(open_page(november / "executive.html").pdf())
    assert sizes and all(close_to(size, A4) for size in sizes), sizes


def test_a_top_exception_links_to_its_row_in_the_run_report(open_page, november):
    page = open_page(november / "executive.html")
    href = page.evaluate("document.querySelector('#top-exceptions a').getAttribute('href')")
    assert href.startswith("report.html#f-")
    page.follow("#top-exceptions a")
    assert page.evaluate("location.hash") == href.removeprefix("report.html")
    assert page.evaluate("document.querySelector(':target').tagName") == "TR"
    assert not page.problems, page.problems


def test_run_report_filters_and_sorts_offline(open_page, november, tmp_path):
    page = open_page(november / "report.html", width=1400)
    assert not page.problems, page.problems
    assert text_of(page, "total-findings") == "4"

    def choose(ident: str, value: str) -> str:
        control = f"document.getElementById({json.dumps(ident)})"
        field = "checked" if ident == "filter-new" else "value"
        page.evaluate(
            f"{control}.{field} = {json.dumps(value) if field == 'value' else value};"
            f"{control}.dispatchEvent(new Event('input'))"
        )
        return text_of(page, "visible-count")

    assert choose("filter-text", "s7") == "1"
    assert choose("filter-text", "") == "4"
    assert choose("filter-severity", "critical") == "2"
    assert choose("filter-new", "true") == "1"
    assert choose("filter-new", "false") == "2"
    assert choose("filter-severity", "") == "4"
    assert choose("filter-rule", "customer-duplicates") == "1"
    hidden = "[...document.querySelectorAll('section.rule')].filter(s => s.hidden).length"
    assert page.evaluate(hidden) == 2
    assert choose("filter-rule", "") == "4"

    # Sort the shipments by key, descending on the second click.
    keys = (
        "[...document.querySelectorAll('#rule-shipment-posted-to-erp tbody tr')]"
        ".map(r => r.cells[2].innerText)"
    )
    header = "document.querySelectorAll('#rule-shipment-posted-to-erp thead th')[2]"
    page.evaluate(f"{header}.click()")
    assert page.evaluate(keys) == ["shipment_id=S6", "shipment_id=S7"]
    page.evaluate(f"{header}.click()")
    assert page.evaluate(keys) == ["shipment_id=S7", "shipment_id=S6"]
    assert page.evaluate(f"{header}.getAttribute('aria-sort')") == "descending"
    assert not page.problems, page.problems
    page.screenshot(tmp_path / "run.png")
    assert (tmp_path / "run.png").read_bytes().startswith(PNG_MAGIC)


def test_run_report_and_batch_sheet_print_on_a4_landscape(open_page, november, tmp_path):
    out = tmp_path / "batch.html"
    args = [
        "report",
        str(november),
        "--kind",
        "batch",
        "--batch",
        "erp:shipment",
        "--out",
        str(out),
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    for path in (november / "report.html", out):
        page = open_page(path)
        assert not page.problems, page.problems
        sizes = pdf_page_sizes(page.pdf())
        assert sizes and all(close_to(size, A4[::-1]) for size in sizes), (path, sizes)
    assert text_of(page, "batch-id") == "2026-11.001/erp:shipment"
    assert text_of(page, "action-count") == "1"
    page.screenshot(tmp_path / "batch.png")
    assert (tmp_path / "batch.png").read_bytes().startswith(PNG_MAGIC)


def test_markup_in_the_data_never_runs(open_page, tmp_path):
    script = "<script>alert(1)</script>"
    rows = [
        finding(
            "customer-master-sync",
            f"customer_id={script}",
            entity="customer",
            other_value=f"<img src=x onerror=alert(2)>{script}",
            message=f"customer {script} differs",
            amount="10",
        )
    ]
    findings = table(rows)
    setup = ReportSetup(runs_dir=runs_dir(tmp_path))
    current = {**manifest("2026-11.001"), "workspace": script}
    for kind in Kind:
        path = tmp_path / f"{kind.value}.html"
        html = render_kind(
            kind, current, findings, derive_actions(findings), setup, batch="wms:customer"
        )
        path.write_text(html, encoding="utf-8")
        page = open_page(path)
        assert not page.problems, (kind, page.problems)
        assert f"customer_id={script}" in page.text(), kind
        assert page.evaluate("document.querySelectorAll('img').length") == 0, kind

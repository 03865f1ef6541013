"""`tallyclerk run` writes both reports; `tallyclerk report` writes any report of any run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from engine import batches
from engine.catalog import Catalog
from tests.reports.factory import runs_dir
from tests.reports.page import Page

runner = CliRunner()


def tallyclerk(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The real command, for its exit code and its message on standard error."""
    code = "from api.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        check=False,
    )


def test_every_run_writes_the_executive_and_the_run_report(three_months):
    for run_id in ("2026-09.001", "2026-10.001", "2026-11.001"):
        folder = runs_dir(three_months) / run_id
        assert (folder / "executive.html").is_file()
        assert (folder / "report.html").is_file()


def test_the_november_executive_report_tells_the_three_months(three_months):
    page = Page((runs_dir(three_months) / "2026-11.001" / "executive.html").read_text())
    assert page.text("money-at-risk") == "Money at risk 30.00 ▼ \u221270.00"
    assert page.text("open-findings") == "Open exceptions 4 ▼ \u22121"
    assert page.text("new-findings") == "New since last run 1 0.00 at risk"
    assert page.text("resolved-findings") == "Resolved since last run 2 70.00 cleared"
    assert page.text("headline-shipments-not-posted").startswith(
        "Shipments not posted to the ERP 2 no change"
    )
    assert page.text("headline-freight-invoices-awaiting-reconciliation").startswith(
        "Freight invoices awaiting reconciliation 1 no change · 30.00 at risk"
    )
    assert page.text("headline-freight-accrual-needed").startswith(
        "Freight accrual needed 0.00 ▼ \u221270.00 · 0 findings"
    )
    assert page.text("headline-duplicate-master-records").startswith(
        "Duplicate master records 1 no change"
    )
    assert page.text("ageing") == (
        "open for findings at risk 0-7 days 1 0.00 8-30 days 1 0.00 "
        "31-90 days 2 30.00 over 90 days 0 0.00"
    )


def test_report_of_a_workspace_writes_its_latest_executive_report_here(
    three_months, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", str(three_months)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["2026-11.001-executive.html"]
    html = (tmp_path / "2026-11.001-executive.html").read_text()
    assert "Month-end exception report" in html
    target = os.path.relpath(runs_dir(three_months) / "2026-11.001" / "report.html", tmp_path)
    assert f'href="{target}#f-' in html


def test_report_of_an_earlier_run_by_id(three_months, tmp_path):
    out = tmp_path / "october.html"
    args = ["report", str(three_months), "--run-id", "2026-10.001", "--out", str(out)]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    page = Page(out.read_text())
    assert page.text("money-at-risk") == "Money at risk 100.00 ▲ +70.00"
    assert page.text("headline-freight-accrual-needed").startswith(
        "Freight accrual needed 70.00 ▲ +70.00 · 1 finding"
    )
    link = f"{os.path.relpath(runs_dir(three_months) / '2026-10.001', tmp_path)}/report.html#f-"
    assert link in out.read_text()


def test_run_report_of_a_run_folder_to_standard_output(three_months):
    folder = runs_dir(three_months) / "2026-11.001"
    result = runner.invoke(app, ["report", str(folder), "--kind", "run", "--out", "-"])
    assert result.exit_code == 0, result.output
    assert Page(result.stdout).text("total-findings") == "4"


def test_batch_sheet_of_one_batch(three_months, tmp_path):
    out = tmp_path / "batch.html"
    folder = runs_dir(three_months) / "2026-11.001"
    args = ["report", str(folder), "--kind", "batch", "--batch", "erp:shipment", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    page = Page(out.read_text())
    assert page.text("batch-id") == "2026-11.001/erp:shipment"
    # S6 was proposed in October and waits in October's batch; November proposed S7 alone.
    assert page.text("action-count") == "1"
    assert "create shipment_id=S7 not in erp created as in wms" in page.visible_text
    assert "shipment_id=S6" not in page.visible_text


def test_batch_sheet_reads_the_catalog_by_the_batches_id(three_months, tmp_path):
    """The sheet shows each action's state as the `batches` commands see it, under the run
    that proposed it, and takes the id form they use."""
    workspace = three_months.parent / "sheet-workspace"
    shutil.copytree(three_months, workspace)
    october = "2026-10.001/erp:shipment"
    with Catalog(workspace) as catalog:
        batches.decide(catalog, user="alex", batch=october, decision="approve", comment="post it")

    out = tmp_path / "batch.html"
    args = ["report", str(workspace), "--kind", "batch", "--batch", october, "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    page = Page(out.read_text())
    assert page.text("batch-id") == october
    assert "run 2026-10.001" in page.visible_text
    assert page.text("batch-statuses") == "1 approved"
    assert page.text("batch-state").startswith("Run 2026-10.001; approved, revision 1;")
    row = page.visible_text[page.visible_text.index("# action") :]
    assert "create shipment_id=S6 not in erp created as in wms" in row
    assert "approved by alex, " in row and ": post it" in row
    assert "alex approved 1 action at " in page.visible_text
    assert "proposed" not in page.visible_text

    # Without a run named, target:entity is the pair's newest batch, as in `batches`.
    result = runner.invoke(app, [*args[:5], "erp:shipment", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Page(out.read_text()).text("batch-id") == "2026-11.001/erp:shipment"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "batch", "--run-id", "2026-09.001"],
            "run 2026-09.001 has 3 batches; choose one with --batch: 2026-09.001/erp:customer, "
            "2026-09.001/erp:shipment, 2026-09.001/finance:freight_invoice.",
        ),
        (
            ["--kind", "batch", "--run-id", "2026-11.001", "--batch", "erp:customer"],
            "run 2026-11.001 has no batch 'erp:customer': its erp:customer actions were "
            "proposed before, in batch 2026-09.001/erp:customer; its batches are: "
            "2026-11.001/erp:shipment.",
        ),
        (
            ["--batch", "erp:shipment"],
            "--batch names the batch of a batch sheet; add --kind batch.",
        ),
        (
            ["--run-id", "2025-01.001"],
            "has no run '2025-01.001'; its latest runs are: 2026-09.001, 2026-10.001, 2026-11.001.",
        ),
    ],
)
def test_report_errors_name_the_fix_and_exit_2(three_months, tmp_path, args, message):
    result = tallyclerk("report", str(three_months), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert list(tmp_path.iterdir()) == []


def test_out_in_a_missing_folder_names_the_folder_and_the_fix(three_months, tmp_path):
    target = tmp_path / "nope" / "deeper" / "x.html"
    result = tallyclerk("report", str(three_months), "--out", str(target), cwd=tmp_path)
    assert result.returncode == 2
    assert " ".join(result.stderr.split()) == (
        f"error: --out {target}: the folder {target.parent} does not exist; create it first "
        f"(mkdir -p {target.parent}) or write the report somewhere else."
    )
    assert list(tmp_path.iterdir()) == []


def test_out_naming_a_folder_suggests_a_file_in_it(three_months, tmp_path):
    result = tallyclerk("report", str(three_months), "--out", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert " ".join(result.stderr.split()) == (
        f"error: --out {tmp_path} is a folder; name the file to write, "
        f"for example --out {tmp_path / '2026-11.001-executive.html'}."
    )
    assert list(tmp_path.iterdir()) == []


def test_links_of_a_report_written_here_open_the_findings_of_the_run(
    three_months, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["report", str(three_months)]).exit_code == 0
    html = (tmp_path / "2026-11.001-executive.html").read_text()
    links = re.findall(r'href="([^"#]+)#(f-[0-9a-f]+)"', html)
    assert links
    for path, anchor in links:
        assert f'id="{anchor}"' in (tmp_path / path).read_text(), path

"""The month-end close end to end, on a small generated sample tenant."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([TALLYCLERK, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def closed_tenant(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("harborline")
    result = _run("demo", str(folder), "--orders", "400", "--seed", "11")
    return folder, result


def test_demo_reaches_precision_and_recall_of_one(closed_tenant):
    folder, result = closed_tenant
    assert result.returncode == 0, result.stderr
    assert "Against expected_findings.csv: precision 1.00, recall 1.00 (20 of 20 expected)" in (
        result.stdout
    )
    assert "missed:" not in result.stdout and "unexpected:" not in result.stdout
    run = f"{folder}/.tallyclerk/runs/2026-11.001"
    assert f"Executive report: {run}/executive.html" in result.stdout
    assert f"Run report:       {run}/report.html" in result.stdout


def test_run_folder_holds_snapshots_findings_actions_report_manifest(closed_tenant):
    folder, _ = closed_tenant
    run = folder / ".tallyclerk" / "runs" / "2026-11.001"
    assert sorted(p.name for p in run.iterdir()) == [
        "actions.parquet",
        "executive.html",
        "findings.parquet",
        "manifest.json",
        "report.html",
        "snapshots",
    ]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["run_id"] == "2026-11.001"
    assert manifest["period"] == "2026-11"
    assert manifest["findings"] == 20
    assert len(manifest["snapshots"]) == len(list((run / "snapshots").iterdir())) == 18
    assert [s["quarantined"] for s in manifest["snapshots"]] == [0] * 18
    # Temporary folders and run-id claims are gone once the run is published.
    assert [p.name for p in run.parent.iterdir() if p.name.startswith(".")] == []


def test_every_finding_has_a_stable_unique_id_and_an_action(closed_tenant):
    folder, _ = closed_tenant
    run = folder / ".tallyclerk" / "runs" / "2026-11.001"
    findings = pq.read_table(run / "findings.parquet").to_pylist()
    actions = pq.read_table(run / "actions.parquet").to_pylist()
    ids = [f["finding_id"] for f in findings]
    assert len(set(ids)) == len(ids) == 20
    assert sorted(a["finding_id"] for a in actions) == sorted(ids)
    by_rule = {(a["rule_id"], a["action"], a["target_system"]) for a in actions}
    assert ("item-master-sync", "update", "wms") in by_rule  # drift: consumer takes owner's value
    assert ("shipment-posted-to-erp", "create", "erp") in by_rule  # missing in a consumer
    assert ("item-master-sync", "route", "erp") in by_rule  # orphan in a consumer: a person


def test_a_second_run_keeps_ids_and_idempotency_keys(closed_tenant):
    folder, _ = closed_tenant
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    runs = folder / ".tallyclerk" / "runs"
    first, second = (
        pq.read_table(runs / r / "actions.parquet") for r in ("2026-11.001", "2026-11.002")
    )
    assert first.column("action_id").to_pylist() == second.column("action_id").to_pylist()


def test_rules_sql_prints_spark_sql(closed_tenant):
    folder, _ = closed_tenant
    result = _run(
        "rules", "sql", "item-master-sync", "--workspace", str(folder), "--dialect", "spark"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("-- rule item-master-sync (match, from workspace)")
    assert "FULL OUTER JOIN `erp__item`" in result.stdout or "`erp__item`" in result.stdout


def test_committed_sample_workspace_is_the_one_demo_writes(repo_root):
    committed = repo_root / "examples" / "harborline" / "tallyclerk.yaml"
    packaged = repo_root / "engine" / "sample" / "tallyclerk.yaml"
    assert committed.read_bytes() == packaged.read_bytes()


def test_another_period_uses_its_own_bounds_and_is_not_scored(closed_tenant, tmp_path):
    # October is run in a copy: a period before the latest run's is refused in place.
    folder = tmp_path / "harborline"
    shutil.copytree(closed_tenant[0], folder, ignore=shutil.ignore_patterns(".tallyclerk"))
    result = _run("run", str(folder), "--period", "2026-10")
    assert result.returncode == 0, result.stderr
    assert "expected_findings.csv" not in result.stdout
    run = sorted((folder / ".tallyclerk" / "runs").glob("2026-10.*"))[-1]
    rules = set(pq.read_table(run / "findings.parquet").column("rule_id").to_pylist())
    # November's invoices and pickups are outside October: their rules find nothing.
    assert "carrier-invoice-vs-rated-cost" not in rules
    assert "shipment-delivered-after-pickup" not in rules


def test_findings_nobody_expected_are_listed_up_to_ten_then_counted(closed_tenant, tmp_path):
    folder = tmp_path / "harborline"
    shutil.copytree(closed_tenant[0], folder, ignore=shutil.ignore_patterns(".tallyclerk"))
    expected = folder / "expected_findings.csv"
    expected.write_text("\n".join(expected.read_text().splitlines()[:2]) + "\n")
    result = _run("run", str(folder), "--period", "2026-11")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    found = pq.read_table(folder / ".tallyclerk" / "runs" / "2026-11.001" / "findings.parquet")
    precision = f"{1 / found.num_rows:.2f}"
    assert (
        f"Against expected_findings.csv: precision {precision}, recall 1.00 (1 of 1 expected)"
        in lines
    )
    assert len([line for line in lines if line.startswith("  unexpected: ")]) == 11
    more = found.num_rows - 1 - 10
    assert f"  unexpected: and {more} more; the run report lists every finding" in lines

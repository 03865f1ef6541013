"""Hand-made findings and run folders for report tests."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from engine.actions import derive_actions
from engine.findings import FINDINGS_SCHEMA, finding_id
from engine.run import RUNS_DIR, STATE_DIR


def finding(
    rule_id: str,
    key: str,
    *,
    problem: str = "drift",
    entity: str = "item",
    kind: str = "match",
    field: str = "",
    systems: str = "erp+wms",
    owner_system: str | None = "erp",
    owner_value: str | None = None,
    other_value: str | None = None,
    amount: str | None = None,
    severity: str = "high",
    message: str = "",
) -> dict:
    return {
        "finding_id": finding_id(rule_id, entity, key, field, problem),
        "rule_id": rule_id,
        "kind": kind,
        "severity": severity,
        "entity": entity,
        "problem": problem,
        "key": key,
        "field": field,
        "systems": systems,
        "owner_system": owner_system,
        "owner_value": owner_value,
        "other_value": other_value,
        "amount_at_risk": None if amount is None else Decimal(amount),
        "message": message or f"{rule_id} found {problem}",
    }


def table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def manifest(run_id: str, *, workspace: str = "Harbour Test") -> dict:
    """A manifest like a run writes; the period is the run id's month."""
    period = run_id.rsplit(".", 1)[0]
    year, month = (int(part) for part in period.split("-"))
    following = f"{year + month // 12}-{month % 12 + 1:02d}"
    return {
        "run_id": run_id,
        "workspace": workspace,
        "period": period,
        "period_start": f"{period}-01T00:00:00+00:00",
        "period_end": f"{following}-01T00:00:00+00:00",
        "finished_at": f"{following}-02T08:00:00+00:00",
    }


def runs_dir(workspace: Path) -> Path:
    return workspace / STATE_DIR / RUNS_DIR


def write_run(workspace: Path, run_id: str, rows: list[dict]) -> Path:
    """A finished run folder holding `rows` as its findings, and the actions they give."""
    folder = runs_dir(workspace) / run_id
    folder.mkdir(parents=True)
    findings = table(rows)
    pq.write_table(findings, folder / "findings.parquet")
    pq.write_table(derive_actions(findings), folder / "actions.parquet")
    (folder / "manifest.json").write_text(json.dumps(manifest(run_id)), encoding="utf-8")
    return folder

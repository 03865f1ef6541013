"""Helpers for tests on a generated Harborline tenant: generate, edit its files, read runs."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from engine.catalog import Catalog
from engine.run import RunResult, run_workspace
from engine.sample.generate import generate

ORDERS = 400
SEED = 11


def make_tenant(folder: Path, **config_changes: object) -> Path:
    """The sample tenant in `folder`; `config_changes` replace top-level keys of its yaml."""
    generate(folder, orders=ORDERS, seed=SEED)
    if config_changes:
        path = folder / "tallyclerk.yaml"
        config = yaml.safe_load(path.read_text())
        config.update(config_changes)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def run(folder: Path, day: int, *, month: int = 12, user: str | None = "pat") -> RunResult:
    """Run November 2026 as if on `day` of `month` 2026 (December: after the close)."""
    now = datetime(2026, month, day, 9, tzinfo=UTC)
    return run_workspace(folder, "2026-11", user=user, now=now)


def edit_rows(
    path: Path, change: Callable[[dict], dict | None], *, add: tuple[dict, ...] = ()
) -> int:
    """Rewrite a CSV file row by row (None drops a row), appending `add`; returns rows changed."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    kept, changed = [], 0
    for row in rows:
        new = change(dict(row))
        changed += new != row
        if new is not None:
            kept.append(new)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows([*kept, *add])
    return changed + len(add)


def findings_by(result: RunResult, **where: str) -> list[dict]:
    rows = result.findings.to_pylist() + result.resolved.to_pylist()
    return [row for row in rows if all(row[k] == v for k, v in where.items())]


def one_finding(result: RunResult, **where: str) -> dict:
    (row,) = findings_by(result, **where)
    return row


def actions_of(folder: Path, batch_id: str) -> list[dict]:
    with Catalog(folder) as catalog, catalog.read() as con:
        rows = con.execute(
            "SELECT * FROM actions WHERE batch_id = ? ORDER BY key, field", (batch_id,)
        ).fetchall()
    return [dict(row) for row in rows]


def read_run(folder: Path, run_id: str, name: str = "findings.parquet") -> list[dict]:
    return pq.read_table(folder / ".tallyclerk" / "runs" / run_id / name).to_pylist()

"""Every built-in pack on the sample tenant: what the packs find is what was planted.

The Harborline data is clean but for its planted discrepancies, so a pack finding that
matches none of them (by kind, entity, key, field and systems) is a false positive.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from engine.run import run_workspace
from engine.sample.generate import generate
from rules.packs import PACKS

IDENTITY = ("kind", "entity", "key", "field", "systems")


@pytest.fixture(scope="module")
def sample_with_packs(tmp_path_factory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("harborline-packs")
    generate(folder, orders=400, seed=11)
    config = yaml.safe_load((folder / "tallyclerk.yaml").read_text())
    config["packs"] = list(PACKS)
    (folder / "tallyclerk.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder, run_workspace(folder, "2026-11").findings.to_pylist()


def test_pack_findings_are_planted_discrepancies(sample_with_packs):
    folder, findings = sample_with_packs
    with (folder / "expected_findings.csv").open(newline="") as handle:
        planted = {tuple(row[name] for name in IDENTITY) for row in csv.DictReader(handle)}
    from_packs = [f for f in findings if f["rule_id"].startswith(tuple(f"{p}." for p in PACKS))]

    found = {tuple(f[name] or "" for name in IDENTITY) for f in from_packs}

    # Nothing but what was planted, and everything that was: the packs hold every check
    # the tenant's own rules were written for.
    assert sorted(found - planted) == []
    assert sorted(planted - found) == []


def test_skipped_pack_rules_name_what_the_sample_lacks(sample_with_packs):
    folder, _ = sample_with_packs
    manifest = yaml.safe_load(
        next((folder / ".tallyclerk" / "runs").glob("2026-11.*/manifest.json")).read_text()
    )
    skipped = {item["rule_id"]: item["reason"] for item in manifest["skipped_rules"]}
    assert (
        skipped["master-data.tax-code-sync"] == "key: no snapshot 'erp.tax_code' in this workspace"
    )
    assert skipped["inventory-to-finance.receipt-complete"] == (
        "table: no snapshot 'wms.receipt' in this workspace"
    )

"""Circular updates: a consumer's value written back into its owner, and values that flip."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.run import run_workspace

WORKSPACE = """
name: Loop Test
systems:
  erp:
    kind: erp
    sources:
      - {entity: item, file: erp.csv, columns: {item_id: item_id, description: description,
                                                 weight_kg: weight_kg}}
  wms:
    kind: wms
    sources:
      - {entity: item, file: wms.csv, columns: {item_id: item_id, description: description,
                                                 weight_kg: weight_kg}}
ownership:
  item: {owner: erp}
rules:
  - id: item-sync
    kind: match
    entity: item
    systems: [erp, wms]
    key: [item_id]
    fields:
      - {name: description, compare: text}
      - {name: weight_kg, compare: numeric, rel_tol: 0.01}
    severity: high
"""


def _write(folder: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    lines = ["item_id,description,weight_kg", *(",".join(row) for row in rows)]
    (folder / name).write_text("\n".join(lines) + "\n")


def _close(folder: Path, day: int, erp: list, wms: list) -> list[dict]:
    _write(folder, "erp.csv", erp)
    _write(folder, "wms.csv", wms)
    result = run_workspace(folder, "2026-11", now=datetime(2026, 11, day, 9, tzinfo=UTC))
    return [f for f in result.findings.to_pylist() if f["rule_id"] == "circular.item-sync"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "tallyclerk.yaml").write_text(WORKSPACE)
    return tmp_path


def test_a_consumer_value_written_back_into_its_owner(workspace: Path) -> None:
    # Run 1: the WMS calls item 1 something else; run 2: the ERP took the WMS's words.
    assert _close(workspace, 2, [("1", "Oak Table", "10"), ("2", "Pine", "5")],
                  [("1", "Oak Tbl", "10"), ("2", "Pine", "5")]) == []  # fmt: skip
    found = _close(workspace, 3, [("1", "OAK TBL ", "10"), ("2", "Pine", "5.02")],
                   [("1", "Oak Tbl", "10"), ("2", "Pine", "5")])  # fmt: skip

    # Item 2's weight moved within the rule's tolerance: the same value, no finding.
    assert [(f["problem"], f["key"], f["field"], f["systems"]) for f in found] == [
        ("reverse_write", "item_id=1", "description", "erp+wms")
    ]
    assert found[0]["message"] == (
        "description of item item_id=1: erp, its owner, changed from 'Oak Table' to "
        "'OAK TBL ' in run 2026-11.002, the value wms held in run 2026-11.001: wms's value "
        "was written back into the system of record."
    )


def test_a_value_that_flips_between_two_systems_run_after_run(workspace: Path) -> None:
    erp_a, erp_b = [("1", "Oak Table", "10")], [("1", "Oak Table", "12")]
    wms_a, wms_b = [("1", "Oak Table", "12")], [("1", "Oak Table", "10")]
    _close(workspace, 2, erp_a, wms_a)
    second = _close(workspace, 3, erp_b, wms_b)
    third = _close(workspace, 4, erp_a, wms_a)

    # The second run sees the owner take the consumer's weight; the third sees it come back.
    assert [f["problem"] for f in second] == ["reverse_write"]
    (flip,) = third
    assert (flip["problem"], flip["field"], flip["owner_value"], flip["other_value"]) == (
        "value_flip",
        "weight_kg",
        "10.0000",
        "12.0000",
    )
    assert flip["message"] == (
        "weight_kg of item item_id=1 flips between two values: erp held 10 in runs "
        "2026-11.001 and 2026-11.003, 12 in run 2026-11.002; wms held 12 in runs 2026-11.001 "
        "and 2026-11.003, 10 in run 2026-11.002: the two systems overwrite each other."
    )

"""Root causes: a missing master record explains the findings on the records that refer to it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from engine.causes import causes_first, link_causes, order_actions, parse_key
from engine.config import load_workspace
from engine.findings import FINDINGS_SCHEMA
from engine.run import run_workspace
from reports.pages import run_renderer
from tests.engine.harborline import make_tenant, read_run
from tests.reports.page import Page


def _finding(finding_id: str, rule_id: str, entity: str, key: str, problem: str, **more) -> dict:
    return {
        "finding_id": finding_id,
        "rule_id": rule_id,
        "kind": more.pop("kind", "validate"),
        "severity": "high",
        "entity": entity,
        "problem": problem,
        "key": key,
        "field": more.pop("field", ""),
        "systems": more.pop("systems", "wms"),
        "owner_system": None,
        "owner_value": None,
        "other_value": more.pop("other_value", None),
        "amount_at_risk": more.pop("amount_at_risk", None),
        "message": "",
        "owner_team": None,
        "rule_version": 1,
    }


FINDINGS = [
    # The item the WMS lost, and a carrier the ERP never created: the causes.
    _finding("item", "item-sync", "item", "item_id=42", "missing_in_wms", systems="erp+wms"),
    _finding(
        "carrier",
        "carrier-sync",
        "carrier",
        "carrier_scac=ZZZZ",
        "missing_in_erp",
        systems="erp+tms",
    ),
    # Records naming the item: an order line (through its snapshot row), a shipment line
    # (the reference itself is broken) and a stock row (the key names the item).
    _finding(
        "line",
        "short",
        "sales_order_line",
        "order_id=SO-1, line_no=2",
        "total_mismatch",
        kind="aggregate",
        systems="erp+wms",
    ),
    _finding(
        "ship-line",
        "line-item-known",
        "shipment_line",
        "shipment_id=SH-1, line_no=1",
        "reference",
        field="item_id",
        other_value="42",
    ),
    _finding(
        "stock",
        "stock-drift",
        "inventory_balance",
        "location_id=WH1, item_id=42",
        "drift",
        systems="erp+wms",
    ),
    # The ERP's own view of the order line: the item is not missing there.
    _finding(
        "erp-only",
        "line-price",
        "sales_order_line",
        "order_id=SO-1, line_no=2",
        "range",
        field="unit_price",
        systems="erp",
    ),
    # A total per location over several items refers to none of them.
    _finding(
        "value",
        "value-vs-ledger",
        "inventory_balance",
        "location_id=WH1",
        "total_mismatch",
        kind="aggregate",
        systems="finance+wms",
        amount_at_risk=Decimal("10.00"),
    ),
    # Shipments of the unknown carrier.
    _finding(
        "ship-a",
        "carrier-known",
        "shipment",
        "shipment_id=SH-1",
        "reference",
        field="carrier_scac",
        other_value="ZZZZ",
        systems="tms",
    ),
    _finding(
        "ship-b",
        "carrier-known",
        "shipment",
        "shipment_id=SH-2",
        "reference",
        field="carrier_scac",
        other_value="ZZZZ",
        systems="tms",
    ),
]

SNAPSHOTS = {
    "erp.sales_order_line": pa.table(
        {"order_id": ["SO-1", "SO-1"], "line_no": [1, 2], "item_id": ["7", "42"]}
    ),
    "wms.inventory_balance": pa.table(
        {"location_id": ["WH1", "WH1"], "item_id": ["7", "42"], "on_hand_qty": [1, 2]}
    ),
}


def _linked() -> dict[str, tuple[str | None, int]]:
    table = link_causes(pa.Table.from_pylist(FINDINGS, schema=FINDINGS_SCHEMA), SNAPSHOTS)
    return {row["finding_id"]: (row["cause_id"], row["explains"]) for row in table.to_pylist()}


def test_each_finding_names_the_missing_master_record_that_explains_it() -> None:
    assert _linked() == {
        "item": (None, 3),
        "carrier": (None, 2),
        "line": ("item", 0),
        "ship-line": ("item", 0),
        "stock": ("item", 0),
        "erp-only": (None, 0),
        "value": (None, 0),
        "ship-a": ("carrier", 0),
        "ship-b": ("carrier", 0),
    }


def test_causes_come_first_followed_by_what_each_explains() -> None:
    linked = link_causes(pa.Table.from_pylist(FINDINGS, schema=FINDINGS_SCHEMA), SNAPSHOTS)

    ordered = causes_first(linked)["finding_id"].to_pylist()

    assert ordered == [
        "item", "line", "ship-line", "stock",
        "carrier", "ship-a", "ship-b",
        "erp-only", "value",
    ]  # fmt: skip


def test_actions_fixing_a_cause_come_before_those_it_makes_unnecessary() -> None:
    linked = link_causes(pa.Table.from_pylist(FINDINGS, schema=FINDINGS_SCHEMA), SNAPSHOTS)
    actions = pa.table(
        {
            "action_id": ["a1", "a2", "a3", "a4"],
            "finding_id": ["stock", "value", "item", "ship-a"],
        }
    )

    ordered = order_actions(actions, linked)

    assert ordered["action_id"].to_pylist() == ["a3", "a2", "a1", "a4"]
    assert ordered["cause_id"].to_pylist() == [None, None, "item", "carrier"]


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("item_id=42", {"item_id": "42"}),
        ("order_id=SO-1, line_no=2", {"order_id": "SO-1", "line_no": "2"}),
        ("customer_id=Baltic, Inc.", {"customer_id": "Baltic, Inc."}),
    ],
)
def test_business_keys_parse_into_their_columns(key: str, parts: dict[str, str]) -> None:
    assert parse_key(key) == parts


def test_the_item_the_sample_wms_lost_explains_its_shipment_line_and_stock(
    tmp_path: Path,
) -> None:
    folder = make_tenant(tmp_path / "tenant")
    render = run_renderer(load_workspace(folder))
    result = run_workspace(
        folder, "2026-11", render=render, now=datetime(2026, 12, 2, 9, tzinfo=UTC)
    )

    rows = result.findings.to_pylist()
    causes = [(r["rule_id"], r["key"], r["problem"], r["explains"]) for r in rows if r["explains"]]
    assert causes == [("item-master-sync", "item_id=4001", "missing_in_wms", 4)]
    cause_id = next(r["finding_id"] for r in rows if r["explains"])
    explained = sorted((r["rule_id"], r["key"]) for r in rows if r["cause_id"] == cause_id)
    assert explained == [
        ("shipment-line-item-known", "shipment_id=SH-0000088, line_no=2"),
        ("stock-item-known", "location_id=WH02, item_id=4001"),
        ("stock-item-known", "location_id=WH03, item_id=4001"),
        ("stock-item-known", "location_id=WH04, item_id=4001"),
    ]
    # The other 15 findings, the idle item missing from the WMS among them, have no cause.
    assert len(rows) == 20
    assert sum(1 for r in rows if r["cause_id"] is None) == 16

    # In actions.parquet the cause's action comes before the four it makes unnecessary.
    actions = read_run(folder, result.run_id, "actions.parquet")
    order = [a["finding_id"] for a in actions]
    later = [order.index(r["finding_id"]) for r in rows if r["cause_id"] == cause_id]
    assert order.index(cause_id) == 0 and min(later) == len(order) - 4

    # The executive report opens with the cause; the run report links each finding to it.
    executive = Page((result.folder / "executive.html").read_text())
    assert executive.text("root-causes") == (
        "business key what systems explains breached item_id=4001 item high this item is in "
        "erp but missing in wms item-master-sync erp+wms 4 0"
    )
    report = (result.folder / "report.html").read_text()
    assert report.count(f'Explained by <a href="#f-{cause_id}">its root cause</a>') == 4
    assert "Root cause of 4 other findings." in report


def test_within_each_run_the_batches_fixing_causes_come_first() -> None:
    from engine.causes import causes_first_batches

    batches = [
        ("2026-11.001", "2026-11.001/erp:customer"),
        ("2026-11.001", "2026-11.001/erp:customer"),
        ("2026-11.001", "2026-11.001/tms:shipment"),
        ("2026-11.001", "2026-11.001/wms:item"),
        ("2026-11.002", "2026-11.002/erp:item"),
        ("2026-11.002", "2026-11.002/wms:item"),
    ]
    explains = {
        "2026-11.001/wms:item": 13,
        "2026-11.001/tms:shipment": 2,
        "2026-11.002/wms:item": 1,
    }
    assert causes_first_batches(batches, explains) == [
        "2026-11.001/wms:item",
        "2026-11.001/tms:shipment",
        "2026-11.001/erp:customer",
        "2026-11.002/wms:item",
        "2026-11.002/erp:item",
    ]

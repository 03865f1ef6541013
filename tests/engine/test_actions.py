"""Actions derived by policy: kinds, payloads in the target's own field names, risk, export."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest

from adapters.source_fields import source_fields
from engine import batches
from engine.actions import action_risk, derive_actions
from engine.apply import export_batch
from engine.catalog import Catalog
from engine.payloads import PayloadContext
from engine.policy import Policy, RiskPolicy
from rules.sql import parse_expression
from tests.reports.factory import finding, table


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, closed_harborline):
    folder = closed_harborline(tmp_path_factory.mktemp("actions") / "harborline", user="pat")
    with Catalog(folder) as catalog, catalog.read() as con:
        rows = con.execute("SELECT * FROM actions ORDER BY batch_id, key, kind").fetchall()
    return folder, {(r["batch_id"].split("/")[1], r["key"], r["kind"]): dict(r) for r in rows}


def _payload(actions: dict, batch: str, key: str, kind: str) -> dict:
    return json.loads(actions[(batch, key, kind)]["payload"])


def test_update_names_the_record_and_field_as_the_target_does(first_run):
    _, actions = first_run
    assert _payload(actions, "wms:item", "item_id=43587", "update") == {
        "record": {"SKU": "43587"},
        "set": {"DESCRIPTION": "Standard Aluminum Dock Plate"},
        "expect": {"DESCRIPTION": "Standard Aluminum Dock Rack"},
    }


def test_a_linearly_computed_field_is_written_in_the_source_field_and_unit(first_run):
    # The WMS maps weight_kg as WEIGHT_LB * 0.45359237 and writes WEIGHT_LB with 2 decimals:
    # the ERP's 35.026 kg is 77.22 lb, and the guard expects the 92.66 lb the WMS holds.
    _, actions = first_run
    assert _payload(actions, "wms:item", "item_id=85425", "update") == {
        "record": {"SKU": "85425"},
        "set": {"WEIGHT_LB": "77.22"},
        "expect": {"WEIGHT_LB": "92.66"},
        "converted": {
            "WEIGHT_LB": "wms computes weight_kg as WEIGHT_LB * 0.45359237: the value is "
            "WEIGHT_LB in wms's own unit, rounded to the 2 decimals it holds"
        },
    }
    create = _payload(actions, "wms:item", "item_id=28657", "create")
    assert create["values"]["WEIGHT_LB"] == "488.42"  # 221.544 kg
    assert "weight_kg" not in create["values"] and "canonical" not in create


def test_a_field_computed_otherwise_is_routed_to_a_person_with_the_reason():
    fields = source_fields(
        {
            "item_id": parse_expression("SKU", where="test"),
            "description": parse_expression("upper(DESCRIPTION)", where="test"),
            "weight_kg": parse_expression("WEIGHT_LB * 0.45359237", where="test"),
        }
    )
    context = PayloadContext(fields={("wms", "item"): fields})
    drift = finding(
        "item-master-sync",
        "item_id=7",
        field="description",
        owner_value="Bolt M8",
        other_value="BOLT M8 ZINC",
    )
    weight = finding(
        "item-master-sync", "item_id=7", field="weight_kg", owner_value="4.742", other_value="x"
    )
    (routed, unconvertible) = derive_actions(table([drift, weight]), context).to_pylist()
    assert (routed["action"], routed["batch_id"], routed["field"]) == (
        "route",
        "wms:item",
        "description",
    )
    payload = json.loads(routed["payload"])
    assert payload["reason"] == (
        "wms computes it as UPPER(DESCRIPTION), so no machine can write description there"
    )
    assert payload["record"] == {"SKU": "7"}
    assert "set" not in payload
    assert (unconvertible["action"], json.loads(unconvertible["payload"])["reason"]) == (
        "route",
        "weight_kg cannot be converted into WEIGHT_LB of wms: 'x' is not a number",
    )


def test_create_copies_the_owner_record_into_the_consumer_names(first_run):
    _, actions = first_run
    assert _payload(actions, "erp:shipment", "shipment_id=SH-0000005", "create") == {
        "copy_from": "wms",
        "record": {"ShipmentNumber": "SH-0000005"},
        "values": {
            "ShipmentNumber": "SH-0000005",
            "OrderNumber": "SO-0000042",
            "PostedAt": "2026-11-03 13:22:00+00:00",
        },
    }


def test_void_keeps_the_first_duplicate_and_voids_the_rest_by_their_own_key(first_run):
    _, actions = first_run
    key = "carrier_scac=ATLX, carrier_invoice_no=INV-ATLX-00008"
    assert _payload(actions, "finance:freight_invoice", key, "void") == {
        "keep": {"ap_document": "AP-000052"},
        "void": [{"ap_document": "AP-000054"}],
    }
    identical = _payload(actions, "erp:customer", "customer_id=C00072", "void")
    assert identical == {
        "keep": None,
        "void": [],
        "identical": 2,
        "note": "the 2 records share their customer key; void all but one by hand in erp",
    }


def test_merge_and_route_name_records_and_people(first_run):
    _, actions = first_run
    merge = _payload(actions, "erp:customer", "customer_id=C00046|C00081", "merge")
    assert (merge["keep"], merge["merge"]) == (
        {"CustomerId": "C00046"},
        [{"CustomerId": "C00081"}],
    )
    key = "carrier_scac=GLKF, carrier_invoice_no=INV-GLKF-00001"
    route = _payload(actions, "finance:freight_invoice", key, "route")
    assert (route["to"], route["record"]) == (
        "freight-audit",
        {"vendor_scac": "GLKF", "carrier_invoice_no": "INV-GLKF-00001"},
    )
    orphan = _payload(actions, "erp:item", "item_id=33217", "route")
    assert orphan["to"] == "operations"
    assert orphan["canonical"] == {"item_id": "erp computes it as LTRIM(ItemNumber, '0')"}


def test_risk_is_the_highest_of_amount_kind_and_severity():
    policy = Policy(risk=RiskPolicy(high_amount=Decimal(500), medium_amount=Decimal(10)))
    finding = {"amount_at_risk": None, "severity": "low"}
    assert action_risk(policy, "update", finding) == "low"
    assert action_risk(policy, "create", finding) == "medium"
    assert action_risk(policy, "update", finding | {"amount_at_risk": Decimal("10.00")}) == (
        "medium"
    )
    assert action_risk(policy, "route", finding | {"amount_at_risk": Decimal(500)}) == "high"
    assert action_risk(policy, "update", finding | {"severity": "critical"}) == "high"


def test_value_maps_are_read_backwards_for_the_target():
    columns = {
        "status": parse_expression("STATUS", where="test"),
        "label": parse_expression("lower(LABEL)", where="test"),
    }
    fields = source_fields(columns, {"status": {"LD": "LOADED", "SH": "SHIPPED"}})
    assert (fields["status"].name, fields["status"].to_source("SHIPPED")) == ("STATUS", "SH")
    assert fields["status"].to_source("DELIVERED") == "DELIVERED"
    assert (fields["label"].field, fields["label"].name) == (None, "label")


def test_export_writes_approved_actions_as_csv_and_json_lines(tmp_path, closed_harborline):
    folder = closed_harborline(tmp_path / "harborline", user="pat")
    with Catalog(folder) as catalog:
        with catalog.read() as con:
            actions = batches.batch_actions(con, "2026-11.001/wms:item")
        update = next(a for a in actions if a["kind"] == "update")
        batches.decide(
            catalog,
            user="alex",
            batch="wms:item",
            decision="approve",
            actions=[update["action_id"]],
        )
        paths = export_batch(catalog, user="pat", batch="wms:item", folder=tmp_path / "out")
    assert [p.name for p in paths] == ["2026-11.001_wms-item.csv", "2026-11.001_wms-item.jsonl"]
    with paths[0].open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["action_id", "action", "SKU", "DESCRIPTION", "expected DESCRIPTION"],
        [
            update["action_id"],
            "update",
            "43587",
            "Standard Aluminum Dock Plate",
            "Standard Aluminum Dock Rack",
        ],
    ]
    (line,) = paths[1].read_text().splitlines()
    assert json.loads(line) == {
        "action_id": update["action_id"],
        "action": "update",
        "target_system": "wms",
        "entity": "item",
        "record": {"SKU": "43587"},
        "set": {"DESCRIPTION": "Standard Aluminum Dock Plate"},
        "expect": {"DESCRIPTION": "Standard Aluminum Dock Rack"},
    }

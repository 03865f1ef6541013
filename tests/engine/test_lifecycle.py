"""Findings across three runs of the sample tenant, with fixes and waivers in between."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pyarrow as pa
import pytest

from engine import lifecycle, waivers
from engine.catalog import Catalog
from tallyclerk.errors import ConfigError
from tests.engine.harborline import (
    actions_of,
    edit_rows,
    make_tenant,
    one_finding,
    read_run,
    run,
)

SEQUENCE = "shipment-status-sequence"
ITEMS = "item-master-sync"


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Runs on 20, 25 and 30 November; fix, waive and break things between the runs."""
    folder = make_tenant(tmp_path_factory.mktemp("harborline"))
    first = run(folder, 20, month=11)

    # Fix the description drift and post the missing shipment, from the create's payload.
    sku = folder / "wms" / "sku_master.csv"
    described = lambda row: {**row, "DESCRIPTION": "Standard Aluminum Dock Plate"}  # noqa: E731
    assert edit_rows(sku, lambda r: described(r) if r["SKU"] == "43587" else r) == 1
    (create,) = actions_of(folder, "2026-11.001/erp:shipment")
    values = json.loads(create["payload"])["values"]
    assert values == {
        "OrderNumber": "SO-0000042",
        "PostedAt": "2026-11-03 13:22:00+00:00",
        "ShipmentNumber": "SH-0000005",
    }
    edit_rows(folder / "erp" / "shipments.csv", lambda r: r, add=(values,))
    with Catalog(folder) as catalog:
        sequence = one_finding(first, rule_id=SEQUENCE)["finding_id"]
        waivers.waive(
            catalog,
            user="alex",
            finding=sequence[:8],
            until=date(2026, 11, 27),
            reason="carrier re-sends the event feed on 27 November",
            today=date(2026, 11, 20),
        )
        waivers.waive(
            catalog,
            user="alex",
            rule=ITEMS,
            key="item_id=33217",
            until=date(2026, 12, 31),
            reason="display stand sample, never sold",
            today=date(2026, 11, 20),
        )
    second = run(folder, 25, month=11)

    # The description is broken again, the weight fixed, and one more item drifts.
    edit_rows(sku, lambda r: {**r, "DESCRIPTION": "Dock Rack"} if r["SKU"] == "43587" else r)
    edit_rows(sku, lambda r: {**r, "WEIGHT_LB": "77.22"} if r["SKU"] == "85425" else r)
    edit_rows(sku, lambda r: {**r, "DESCRIPTION": "Oak Kit"} if r["SKU"] == "401" else r)
    third = run(folder, 30, month=11)
    return folder, first, second, third


def test_first_run_finds_everything_new_and_dated_its_day(three_runs):
    folder, first, _, _ = three_runs
    assert first.manifest["compared_with"] is None
    assert first.manifest["lifecycle"] == {
        "new": 20,
        "persisting": 0,
        "reopened": 0,
        "resolved": 0,
        "waived": 0,
    }
    rows = read_run(folder, "2026-11.001")
    assert {(r["status"], r["first_seen"], r["age_days"], r["first_seen_run"]) for r in rows} == {
        ("new", date(2026, 11, 20), 0, "2026-11.001")
    }
    assert not (folder / ".tallyclerk/runs/2026-11.001/resolved.parquet").exists()


def test_second_run_resolves_the_fixes_and_keeps_waived_findings_visible(three_runs):
    folder, _, second, _ = three_runs
    assert second.manifest["compared_with"] == "2026-11.001"
    assert second.manifest["lifecycle"] == {
        "new": 0,
        "persisting": 18,
        "reopened": 0,
        "resolved": 2,
        "waived": 2,
    }
    resolved = read_run(folder, "2026-11.002", "resolved.parquet")
    assert sorted((r["rule_id"], r["key"], r["field"], r["age_days"]) for r in resolved) == [
        (ITEMS, "item_id=43587", "description", 5),
        ("shipment-posted-to-erp", "shipment_id=SH-0000005", "", 5),
    ]
    assert {r["status"] for r in resolved} == {"resolved"}
    waived = {
        (r["rule_id"], r["key"]): (r["waived_until"], r["waiver_reason"], r["status"])
        for r in read_run(folder, "2026-11.002")
        if r["waived_until"] is not None
    }
    assert waived == {
        (SEQUENCE, "shipment_id=SH-0000290"): (
            date(2026, 11, 27),
            "carrier re-sends the event feed on 27 November",
            "persisting",
        ),
        (ITEMS, "item_id=33217"): (
            date(2026, 12, 31),
            "display stand sample, never sold",
            "persisting",
        ),
    }
    # Waived findings get no action; the others already have theirs from the first run.
    assert second.actions.num_rows == 16
    assert second.batches.new_actions == 0
    assert second.batches.obsolete == 2


def test_third_run_reopens_brings_back_expired_waivers_and_ages(three_runs):
    folder, _, _, third = three_runs
    assert third.manifest["lifecycle"] == {
        "new": 1,
        "persisting": 17,
        "reopened": 1,
        "resolved": 1,
        "waived": 1,
    }
    rows = {(r["rule_id"], r["key"], r["field"]): r for r in read_run(folder, "2026-11.003")}
    reopened = rows[(ITEMS, "item_id=43587", "description")]
    assert (reopened["status"], reopened["first_seen"], reopened["age_days"]) == (
        "reopened",
        date(2026, 11, 20),
        10,
    )
    assert reopened["other_value"] == "Dock Rack"
    expired = rows[(SEQUENCE, "shipment_id=SH-0000290", "status")]
    assert (expired["status"], expired["waived_until"], expired["age_days"]) == (
        "persisting",
        None,
        10,
    )
    assert rows[(ITEMS, "item_id=33217", "")]["waived_until"] == date(2026, 12, 31)
    new = [k for k, r in rows.items() if r["status"] == "new"]
    assert new == [(ITEMS, "item_id=401", "description")]
    (weight,) = read_run(folder, "2026-11.003", "resolved.parquet")
    assert (weight["key"], weight["field"], weight["status"], weight["age_days"]) == (
        "item_id=85425",
        "weight_kg",
        "resolved",
        10,
    )
    # The reopened finding's new value asks for a new action in a new batch; the finding
    # whose waiver expired gets its withdrawn action proposed again.
    assert third.batches.batches == ("2026-11.003/tms:shipment_event", "2026-11.003/wms:item")
    assert {a["key"] for a in actions_of(folder, "2026-11.003/wms:item")} == {
        "item_id=401",
        "item_id=43587",
    }
    (again,) = actions_of(folder, "2026-11.003/tms:shipment_event")
    (withdrawn,) = actions_of(folder, "2026-11.001/tms:shipment_event")
    assert (again["key"], again["status"], again["payload"]) == (
        "shipment_id=SH-0000290",
        "pending",
        withdrawn["payload"],
    )
    assert withdrawn["status"] == "withdrawn"
    assert third.batches.for_reopened == 1


def test_history_keeps_every_run_status_of_a_finding(three_runs):
    folder, first, _, _ = three_runs
    description = one_finding(first, rule_id=ITEMS, field="description")["finding_id"]
    with Catalog(folder) as catalog, catalog.read() as con:
        history = con.execute(
            "SELECT run_id, status, age_days FROM finding_history WHERE finding_id = ? "
            "ORDER BY run_id",
            (description,),
        ).fetchall()
    assert [tuple(row) for row in history] == [
        ("2026-11.001", "new", 0),
        ("2026-11.002", "resolved", 5),
        ("2026-11.003", "reopened", 10),
    ]


def test_select_filters_by_status_rule_waived_and_open(three_runs):
    _, _, _, third = three_runs
    everything = pa.concat_tables([third.findings, third.resolved])
    assert lifecycle.select(everything, status="resolved").num_rows == 1
    assert lifecycle.select(everything, status="waived").num_rows == 1
    assert lifecycle.select(everything, status="reopened", rule=ITEMS).num_rows == 1
    assert lifecycle.select(everything, rule=SEQUENCE)["status"].to_pylist() == ["persisting"]
    assert lifecycle.select(everything, status="open").num_rows == everything.num_rows - 2


def test_a_run_after_the_period_dates_its_findings_by_the_period_last_day(tmp_path):
    folder = make_tenant(tmp_path)
    first = run(folder, 1, month=12)
    assert {(r["first_seen"], r["age_days"]) for r in first.findings.to_pylist()} == {
        (date(2026, 11, 30), 0)
    }
    with Catalog(folder) as catalog, catalog.read() as con:
        assert tuple(con.execute("SELECT run_date FROM runs").fetchone()) == ("2026-12-01",)


def test_waivers_refuse_the_past_no_reason_and_unknown_findings(tmp_path, closed_harborline):
    folder = closed_harborline(tmp_path / "harborline", user="pat")
    with Catalog(folder) as catalog:
        with pytest.raises(ConfigError, match=r"--until 2026-11-30 is in the past"):
            waivers.waive(
                catalog,
                user="alex",
                rule=ITEMS,
                key="item_id=33217",
                until=date(2026, 11, 30),
                reason="x",
                today=date(2026, 12, 1),
            )
        with pytest.raises(ConfigError, match="a waiver needs a reason"):
            waivers.waive(
                catalog,
                user="alex",
                rule=ITEMS,
                key="item_id=33217",
                until=date(2026, 12, 9),
                reason=" ",
                today=date(2026, 12, 1),
            )
        with pytest.raises(ConfigError, match=r"no run has found rule 'item-master-sync' with key"):
            waivers.waive(
                catalog,
                user="alex",
                rule=ITEMS,
                key="item_id=1",
                until=date(2026, 12, 9),
                reason="x",
                today=date(2026, 12, 1),
            )
        with pytest.raises(ConfigError, match=r"no finding has an id starting 'ffffffff'"):
            waivers.waive(
                catalog,
                user="alex",
                finding="ffffffff",
                until=date(2026, 12, 9),
                reason="x",
                today=date(2026, 12, 1),
            )


def test_journal_action_moves_the_difference_onto_the_owner_total(three_runs):
    _, first, _, _ = three_runs
    (journal,) = [a for a in first.actions.to_pylist() if a["action"] == "journal"]
    assert journal["batch_id"] == "finance:journal_line"
    assert journal["amount_at_risk"] == Decimal("1250.00")
    payload = json.loads(journal["payload"])
    assert [(line["account"], line["amount"], line["location"]) for line in payload["lines"]] == [
        ("1300", "-1250.00", "WH02"),
        ("5000", "1250.00", "WH02"),
    ]

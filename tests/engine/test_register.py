"""What each run does to earlier actions: only an applied action is confirmed, and a
finding that is open again always has a live action."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine import batches, waivers
from engine.apply import apply_batch, export_batch
from engine.catalog import Catalog
from engine.config import load_workspace
from tallyclerk.errors import ApplyError
from tests.engine.harborline import actions_of, edit_rows, make_tenant, run

ITEMS = "2026-11.001/wms:item"
DRIFT = "item_id=43587"


def _describe(folder, text: str) -> None:
    sku = folder / "wms" / "sku_master.csv"
    edit_rows(sku, lambda r: {**r, "DESCRIPTION": text} if r["SKU"] == "43587" else r)


def _action(folder, batch: str, key: str = DRIFT) -> dict:
    (action,) = [a for a in actions_of(folder, batch) if a["key"] == key]
    return action


def test_an_exported_action_is_not_confirmed_and_its_reopened_finding_gets_a_new_one(
    tmp_path, closed_harborline
):
    folder = closed_harborline(tmp_path / "harborline", user="pat")
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", comment="go")
        export_batch(catalog, user="pat", batch="wms:item", folder=tmp_path / "out")
    before = _action(folder, ITEMS)

    # Someone fixes the description by hand: the finding resolves, but tallyclerk applied
    # nothing, so the exported action is not confirmed.
    _describe(folder, "Standard Aluminum Dock Plate")
    second = run(folder, 2)
    assert (second.batches.confirmed, second.batches.obsolete) == (0, 1)
    exported = _action(folder, ITEMS)
    assert (exported["status"], exported["confirmation"], exported["reason"]) == (
        "obsolete",
        None,
        "its finding was resolved by run 2026-11.002 before tallyclerk applied it",
    )

    # The fix is undone: the reopened finding gets a new proposed action, and is counted.
    _describe(folder, "Standard Aluminum Dock Rack")
    third = run(folder, 3)
    assert third.manifest["lifecycle"]["reopened"] == 1
    assert (third.batches.new_actions, third.batches.for_reopened) == (1, 1)
    assert third.batches.batches == ("2026-11.003/wms:item",)
    renewed = _action(folder, "2026-11.003/wms:item")
    assert renewed["action_id"] != before["action_id"]
    assert (renewed["kind"], renewed["status"], renewed["payload"]) == (
        "update",
        "pending",
        before["payload"],
    )
    (proposed,) = [a for a in third.actions.to_pylist() if a["key"] == DRIFT]
    assert proposed["action_id"] == renewed["action_id"]

    # The renewed action speaks for the finding from now on: the next run adds nothing.
    fourth = run(folder, 4)
    assert fourth.batches.new_actions == 0
    assert [a["action_id"] for a in fourth.actions.to_pylist() if a["key"] == DRIFT] == [
        renewed["action_id"]
    ]


@pytest.fixture
def targeted(tmp_path):
    targets = {
        "wms": {
            "kind": "postgres",
            "dsn": "env:WMS_DSN",
            "entities": {"item": {"table": "sku_master"}},
        }
    }
    folder = make_tenant(tmp_path / "harborline", targets=targets)
    run(folder, 1)
    return folder


def test_waiving_a_finding_withdraws_its_approved_action_until_the_waiver_ends(targeted):
    folder = targeted
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", comment="go")
        finding_id = _action(folder, ITEMS)["finding_id"]
        waived = waivers.waive(
            catalog,
            user="sam",
            finding=finding_id[:8],
            until=date(2026, 12, 20),
            reason="the WMS team renames the range this month",
            today=date(2026, 12, 1),
        )
        assert waived.created
        action = _action(folder, ITEMS)
        assert waived.withdrawn == (action["action_id"],)
        assert (action["status"], action["decided_by"], action["reason"]) == (
            "withdrawn",
            "alex",
            f"its finding was waived until 2026-12-20 (waiver {waived.waiver.waiver_id}): "
            "the WMS team renames the range this month",
        )
        with catalog.read() as con:
            entry = con.execute("SELECT detail FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        assert json.loads(entry[0])["withdrawn"] == [action["action_id"]]

        # Nothing connects to the WMS (the DSN goes nowhere): the withdrawn action is not
        # claimed, and the three others are.
        environ = {"WMS_DSN": "postgresql://tally@127.0.0.1:1/wms"}
        with pytest.raises(ApplyError, match="cannot connect to PostgreSQL"):
            apply_batch(catalog, load_workspace(folder), user="pat", batch=ITEMS, environ=environ)
    statuses = {a["key"]: a["status"] for a in actions_of(folder, ITEMS)}
    assert statuses == {
        "item_id=28657": "failed",
        "item_id=4001": "failed",
        DRIFT: "withdrawn",
        "item_id=85425": "failed",
    }

    # The waiver ends early: the next run proposes the change again, for a new decision.
    with Catalog(folder) as catalog:
        waivers.revoke(catalog, user="sam", waiver_id=waived.waiver.waiver_id, reason="done")
    second = run(folder, 2)
    assert second.batches.batches == ("2026-11.002/wms:item",)
    again = _action(folder, "2026-11.002/wms:item")
    assert (again["status"], again["payload"]) == ("pending", action["payload"])


def test_waiving_twice_on_the_same_terms_changes_nothing(tmp_path, closed_harborline):
    folder = closed_harborline(tmp_path / "harborline", user="pat")
    terms = {
        "rule": "item-master-sync",
        "key": "item_id=33217",
        "until": date(2026, 12, 31),
        "reason": "display stand sample, never sold",
        "today": date(2026, 12, 1),
    }
    with Catalog(folder) as catalog:
        first = waivers.waive(catalog, user="alex", **terms)
        with catalog.read() as con:
            entries = con.execute("SELECT count(*) FROM audit").fetchone()[0]
        second = waivers.waive(catalog, user="sam", **terms)
        assert (second.created, second.waiver, second.withdrawn) == (False, first.waiver, ())
        with catalog.read() as con:
            assert con.execute("SELECT count(*) FROM waivers").fetchone()[0] == 1
            assert con.execute("SELECT count(*) FROM audit").fetchone()[0] == entries
        # Other terms are another waiver.
        longer = waivers.waive(catalog, user="sam", **terms | {"until": date(2027, 1, 31)})
        assert longer.created and longer.waiver.waiver_id != first.waiver.waiver_id

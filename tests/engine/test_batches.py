"""Batches and decisions: auto-approval, four eyes, partial approval, conflicts, roles."""

from __future__ import annotations

import sqlite3

import pytest

from engine import batches
from engine.access import authorize
from engine.catalog import Catalog
from engine.config import load_workspace
from tallyclerk.errors import AccessError, CatalogBusyError, ConfigError, ConflictError
from tests.engine.harborline import actions_of

ITEMS = "2026-11.001/wms:item"


@pytest.fixture
def tenant(tmp_path, closed_harborline):
    return closed_harborline(tmp_path / "harborline", user="ada")


def test_a_run_groups_new_actions_by_target_and_entity_and_auto_approves_low_risk(tenant):
    with Catalog(tenant) as catalog, catalog.read() as con:
        rows = con.execute(
            "SELECT batch_id, kind, risk, status, decided_by FROM actions "
            "ORDER BY batch_id, key, kind"
        ).fetchall()
        prepared = {r[0] for r in con.execute("SELECT prepared_by FROM batches")}
    assert [tuple(r) for r in rows] == [
        ("2026-11.001/erp:customer", "merge", "high", "pending", None),
        ("2026-11.001/erp:customer", "void", "high", "pending", None),
        ("2026-11.001/erp:item", "route", "medium", "pending", None),
        ("2026-11.001/erp:sales_order_line", "route", "low", "approved", batches.POLICY_ACTOR),
        ("2026-11.001/erp:shipment", "create", "high", "pending", None),
        ("2026-11.001/finance:freight_invoice", "route", "high", "pending", None),
        ("2026-11.001/finance:freight_invoice", "void", "high", "pending", None),
        ("2026-11.001/finance:freight_invoice", "route", "medium", "pending", None),
        ("2026-11.001/finance:journal_line", "journal", "high", "pending", None),
        ("2026-11.001/finance:sales_order_line", "route", "high", "pending", None),
        ("2026-11.001/tms:shipment", "route", "medium", "pending", None),
        ("2026-11.001/tms:shipment_event", "route", "medium", "pending", None),
        ("2026-11.001/wms:inventory_balance", "route", "medium", "pending", None),
        ("2026-11.001/wms:inventory_balance", "route", "medium", "pending", None),
        ("2026-11.001/wms:inventory_balance", "route", "medium", "pending", None),
        ("2026-11.001/wms:item", "create", "medium", "pending", None),
        ("2026-11.001/wms:item", "create", "medium", "pending", None),
        ("2026-11.001/wms:item", "update", "medium", "pending", None),
        ("2026-11.001/wms:item", "update", "medium", "pending", None),
        ("2026-11.001/wms:shipment_line", "route", "medium", "pending", None),
    ]
    assert prepared == {"ada"}


def test_four_eyes_the_preparer_cannot_approve_but_another_approver_can(tenant):
    with Catalog(tenant) as catalog:
        with pytest.raises(AccessError) as refused:
            batches.decide(catalog, user="ada", batch=ITEMS, decision="approve")
        assert str(refused.value) == (
            f"four eyes: ada prepared batch {ITEMS}, so another approver must approve it."
        )
        assert {a["status"] for a in actions_of(tenant, ITEMS)} == {"pending"}
        decided = batches.decide(catalog, user="alex", batch=ITEMS, decision="approve")
    assert (decided.actions.__len__(), decided.still_pending, decided.revision) == (4, 0, 1)


def test_four_eyes_the_submitter_cannot_approve_either(tmp_path, closed_harborline):
    folder = closed_harborline(tmp_path / "harborline", user=None)
    with Catalog(folder) as catalog:
        batches.submit(catalog, user="pat", batch="wms:item", comment="checked the weights")
        with pytest.raises(ConflictError, match="already submitted by pat"):
            batches.submit(catalog, user="ada", batch="wms:item", comment=None)
    loaded = load_workspace(folder)
    with Catalog(folder) as catalog:
        # Roles first: a preparer may not decide at all.
        with pytest.raises(AccessError, match="pat is a preparer, and to decide needs the role"):
            authorize(catalog, loaded.config, "pat", "decide")
        batches.decide(catalog, user="sam", batch="wms:item", decision="approve")
    row = {a["decided_by"] for a in actions_of(folder, ITEMS)}
    assert row == {"sam"}


def test_partial_approval_then_the_rest_is_rejected_with_a_comment(tenant):
    first, *others = (a["action_id"] for a in actions_of(tenant, ITEMS))
    with Catalog(tenant) as catalog:
        partial = batches.decide(
            catalog,
            user="alex",
            batch=ITEMS,
            decision="approve",
            actions=[first[:10]],
            comment="create the missing item",
        )
        assert (partial.actions, partial.still_pending) == ((first,), 3)
        with pytest.raises(ConfigError, match="a rejection needs a reason"):
            batches.decide(catalog, user="sam", batch=ITEMS, decision="reject")
        rest = batches.decide(
            catalog, user="sam", batch=ITEMS, decision="reject", comment="weights are checked"
        )
    assert set(rest.actions) == set(others)
    statuses = [(a["status"], a["decided_by"], a["comment"]) for a in actions_of(tenant, ITEMS)]
    assert statuses == [
        ("approved", "alex", "create the missing item"),
        ("rejected", "sam", "weights are checked"),
        ("rejected", "sam", "weights are checked"),
        ("rejected", "sam", "weights are checked"),
    ]


def test_deciding_what_someone_else_already_decided_is_a_conflict(tenant):
    first = actions_of(tenant, ITEMS)[0]["action_id"]
    with Catalog(tenant) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", actions=[first])
        with pytest.raises(ConflictError) as conflict:
            batches.decide(
                catalog, user="sam", batch=ITEMS, decision="reject", actions=[first], comment="no"
            )
        assert str(conflict.value) == (
            f"batch {ITEMS}: {first[:12]} is approved by alex; nothing was decided."
        )
        with pytest.raises(ConflictError, match="is at revision 1, not 0"):
            batches.decide(catalog, user="sam", batch=ITEMS, decision="approve", revision=0)
        batches.decide(catalog, user="sam", batch=ITEMS, decision="approve", revision=1)
        with pytest.raises(ConflictError, match="has no pending actions left to decide"):
            batches.decide(catalog, user="alex", batch=ITEMS, decision="approve")


def test_unknown_batch_and_ambiguous_action_say_how_to_find_them(tenant):
    with Catalog(tenant) as catalog:
        with pytest.raises(ConfigError, match=r"no batch 'wms:nothing' in this workspace"):
            batches.decide(catalog, user="alex", batch="wms:nothing", decision="approve")
        with pytest.raises(ConfigError, match=r"action '' matches 4 actions"):
            batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", actions=[""])


def test_a_writer_waiting_longer_than_the_bounded_wait_gets_catalog_busy(tenant):
    holder = sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Catalog(tenant, timeout=0.2) as catalog, pytest.raises(CatalogBusyError) as busy:
            batches.decide(catalog, user="alex", batch=ITEMS, decision="approve")
        assert "is busy: another tallyclerk process held it for more than 0.2 s" in str(busy.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert {a["status"] for a in actions_of(tenant, ITEMS)} == {"pending"}


def test_messages_name_the_last_decision_and_the_role_in_plain_english(tenant):
    first = actions_of(tenant, ITEMS)[0]["action_id"]
    with Catalog(tenant) as catalog:
        batches.decide(
            catalog, user="sam", batch=ITEMS, decision="reject", actions=[first], comment="no"
        )
        with pytest.raises(ConflictError) as stale:
            batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", revision=0)
    assert "Last decision: sam rejected 1 action at " in str(stale.value)
    with Catalog(tenant) as catalog, pytest.raises(AccessError) as refused:
        authorize(catalog, load_workspace(tenant).config, "alex", "run")
    assert str(refused.value).startswith(
        "alex is an approver, and to run needs the role admin or preparer;"
    )

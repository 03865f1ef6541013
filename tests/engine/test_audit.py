"""The hash-chained audit trail: every decision appended, every tampering named."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from engine import audit, batches
from engine.access import authorize
from engine.catalog import Catalog
from engine.config import load_workspace

ITEMS = "2026-11.001/wms:item"


@pytest.fixture
def tenant(tmp_path, closed_harborline):
    """Role changes, a run by pat, an auto-approval, an approval and a rejection."""
    folder = closed_harborline(tmp_path / "harborline", user="pat")
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", comment="ok")
        batches.decide(
            catalog, user="sam", batch="erp:customer", decision="reject", comment="merge by hand"
        )
    return folder


def _edit(folder, statement: str, *params) -> None:
    con = sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite")
    with con:
        con.execute(statement, params)
    con.close()


def test_every_decision_is_recorded_with_who_what_and_why(tenant):
    with Catalog(tenant) as catalog:
        entries = audit.entries(catalog)
        assert audit.verify(catalog) == (len(entries), [])
    summary = [(e.seq, e.actor, e.verb, e.subject, e.why) for e in entries]
    assert summary[:5] == [
        (
            1,
            "workspace:tallyclerk.yaml",
            "role_change",
            "user:ada",
            "roles declared in tallyclerk.yaml changed",
        ),
        (
            2,
            "workspace:tallyclerk.yaml",
            "role_change",
            "user:alex",
            "roles declared in tallyclerk.yaml changed",
        ),
        (
            3,
            "workspace:tallyclerk.yaml",
            "role_change",
            "user:pat",
            "roles declared in tallyclerk.yaml changed",
        ),
        (
            4,
            "workspace:tallyclerk.yaml",
            "role_change",
            "user:sam",
            "roles declared in tallyclerk.yaml changed",
        ),
        (
            5,
            "workspace:tallyclerk.yaml",
            "role_change",
            "user:vic",
            "roles declared in tallyclerk.yaml changed",
        ),
    ]
    assert summary[5:] == [
        (6, "pat", "run", "run:2026-11.001", None),
        (
            7,
            batches.POLICY_ACTOR,
            "approve",
            "batch:2026-11.001/erp:sales_order_line",
            "risk level approved by the workspace policy",
        ),
        (8, "alex", "approve", f"batch:{ITEMS}", "ok"),
        (9, "sam", "reject", "batch:2026-11.001/erp:customer", "merge by hand"),
    ]
    assert entries[7].detail["partial"] is False and len(entries[7].detail["actions"]) == 4


def test_verify_names_an_edited_entry(tenant):
    _edit(tenant, "UPDATE audit SET why = 'looks fine to me' WHERE seq = 8")
    with Catalog(tenant) as catalog:
        checked, breaks = audit.verify(catalog)
    assert checked == 9
    assert breaks == [audit.Break(8, "its content does not match its hash (edited)")]


def test_verify_names_an_entry_edited_with_a_recomputed_hash_by_the_broken_link(tenant):
    con = sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite")
    row = con.execute("SELECT * FROM audit WHERE seq = 8").fetchone()
    forged = list(row)
    forged[3] = "reject"
    digest = hashlib.sha256(json.dumps(forged[:8], separators=(",", ":")).encode()).hexdigest()
    with con:
        con.execute("UPDATE audit SET verb = 'reject', hash = ? WHERE seq = 8", (digest,))
    con.close()
    with Catalog(tenant) as catalog:
        _, breaks = audit.verify(catalog)
    assert breaks == [
        audit.Break(
            9, "its link to the entry before it is broken (an entry was deleted or replaced)"
        )
    ]


def test_verify_names_deleted_entries_in_the_middle_and_at_the_end(tenant):
    _edit(tenant, "DELETE FROM audit WHERE seq IN (3, 4)")
    _edit(tenant, "DELETE FROM audit WHERE seq = 9")
    with Catalog(tenant) as catalog:
        checked, breaks = audit.verify(catalog)
    assert checked == 6
    assert breaks == [
        audit.Break(3, "entries 3 to 4 are missing (deleted)"),
        audit.Break(9, "entry 9 is missing (deleted)"),
    ]


def test_a_role_changed_in_the_workspace_file_is_audited_once(tenant):
    path = tenant / "tallyclerk.yaml"
    path.write_text(path.read_text().replace("  pat: preparer\n", "  pat: approver\n"))
    loaded = load_workspace(tenant)
    with Catalog(tenant) as catalog:
        assert authorize(catalog, loaded.config, "pat", "decide") == "approver"
        authorize(catalog, loaded.config, "pat", "decide")
        changes = [e for e in audit.entries(catalog, subject="user:pat") if e.seq > 5]
    assert [(e.actor, e.verb, e.detail) for e in changes] == [
        ("workspace:tallyclerk.yaml", "role_change", {"from": "preparer", "to": "approver"})
    ]


def test_a_garbled_head_file_is_reported_not_a_traceback(tenant):
    head = tenant / ".tallyclerk" / audit.HEAD_FILE
    head.write_text("garbage\n", encoding="utf-8")
    with Catalog(tenant) as catalog:
        checked, breaks = audit.verify(catalog)
    assert breaks == [audit.Break(None, f"{head} is damaged: it holds no entry number and hash")]
    assert checked > 0

"""The hash-chained audit trail: every decision appended, every tampering named."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import date

import pytest

from engine import audit, batches, waivers
from engine.access import authorize
from engine.apply import export_batch
from engine.catalog import Catalog
from engine.config import load_workspace
from tallyclerk.errors import CatalogError

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
    # The run proposes each batch, in order; the policy approves the low-risk batch after
    # its proposal; then the people decide.
    proposals = [e for e in entries if e.verb == "propose"]
    assert [e.subject.removeprefix("batch:") for e in proposals] == _batch_ids(tenant)
    assert {e.actor for e in proposals} == {"pat"}
    assert summary[5] == (6, "pat", "run", "run:2026-11.001", None)
    decisions = [row[1:] for row in summary[6:] if row[2] != "propose"]
    assert decisions == [
        (
            batches.POLICY_ACTOR,
            "approve",
            "batch:2026-11.001/erp:sales_order_line",
            "risk level approved by the workspace policy",
        ),
        ("alex", "approve", f"batch:{ITEMS}", "ok"),
        ("sam", "reject", "batch:2026-11.001/erp:customer", "merge by hand"),
    ]
    approval = next(e for e in entries if e.actor == "alex")
    assert approval.detail["partial"] is False and len(approval.detail["actions"]) == 4
    (proposal,) = [e for e in proposals if e.subject == f"batch:{ITEMS}"]
    assert set(approval.detail["actions"]) == set(proposal.detail["actions"])


def _batch_ids(folder) -> list[str]:
    con = sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite")
    ids = [row[0] for row in con.execute("SELECT batch_id FROM batches ORDER BY batch_id")]
    con.close()
    return ids


def _seq(folder, actor: str) -> int:
    """The entry number of the first decision by `actor`."""
    con = sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite")
    seq = con.execute("SELECT min(seq) FROM audit WHERE actor = ?", (actor,)).fetchone()[0]
    con.close()
    return seq


def test_verify_names_an_edited_entry(tenant):
    approval, last = _seq(tenant, "alex"), _seq(tenant, "sam")
    _edit(tenant, "UPDATE audit SET why = 'looks fine to me' WHERE seq = ?", approval)
    with Catalog(tenant) as catalog:
        checked, breaks = audit.verify(catalog)
    assert checked == last
    assert breaks == [audit.Break(approval, "its content does not match its hash (edited)")]


def test_verify_names_an_entry_edited_with_a_recomputed_hash_by_the_broken_link(tenant):
    approval = _seq(tenant, "alex")
    con = sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite")
    row = con.execute("SELECT * FROM audit WHERE seq = ?", (approval,)).fetchone()
    forged = list(row)
    forged[3] = "reject"
    digest = hashlib.sha256(json.dumps(forged[:8], separators=(",", ":")).encode()).hexdigest()
    with con:
        con.execute("UPDATE audit SET verb = 'reject', hash = ? WHERE seq = ?", (digest, approval))
    con.close()
    with Catalog(tenant) as catalog:
        _, breaks = audit.verify(catalog)
    link = "its link to the entry before it is broken (an entry was deleted or replaced)"
    # The forged entry no longer approves alex's actions, which the catalog says he approved.
    assert breaks[0] == audit.Break(approval + 1, link)
    assert [b.problem.split(": ", 1)[1] for b in breaks[1:]] == [
        "it is approved by alex, but the audit trail holds no such decision (edited by hand)"
    ] * 4


def test_verify_names_deleted_entries_in_the_middle_and_at_the_end(tenant):
    last = _seq(tenant, "sam")
    _edit(tenant, "DELETE FROM audit WHERE seq IN (3, 4)")
    _edit(tenant, "DELETE FROM audit WHERE seq = ?", last)
    with Catalog(tenant) as catalog:
        checked, breaks = audit.verify(catalog)
    assert checked == last - 3
    # The rejection went with the last entry: the catalog's rejected actions now lack it.
    assert breaks[:2] == [
        audit.Break(3, "entries 3 to 4 are missing (deleted)"),
        audit.Break(last, f"entry {last} is missing (deleted)"),
    ]
    assert {b.problem.split(": ", 1)[1] for b in breaks[2:]} == {
        "it is rejected by sam, but the audit trail holds no such decision (edited by hand)"
    }


def test_verify_names_actions_and_waivers_edited_in_the_catalog(tenant):
    with Catalog(tenant) as catalog:
        waivers.waive(
            catalog,
            user="alex",
            rule="customer-duplicates",
            key=_open_key(tenant, "customer-duplicates"),
            until=date(2026, 12, 31),
            reason="merging in December",
        )
        assert audit.verify(catalog)[1] == []
    with Catalog(tenant) as catalog, catalog.read() as con:
        pending = con.execute(
            "SELECT action_id, payload FROM actions WHERE status = 'pending' ORDER BY action_id"
        ).fetchall()
    first, second = pending[0]["action_id"], pending[1]["action_id"]
    _edit(
        tenant,
        "UPDATE actions SET status = 'approved', decided_by = 'sam' WHERE action_id = ?",
        first,
    )
    _edit(tenant, "UPDATE actions SET payload = '{}' WHERE action_id = ?", second)
    _edit(tenant, "UPDATE waivers SET until = '2027-12-31'")
    with Catalog(tenant) as catalog:
        _, breaks = audit.verify(catalog)
        with pytest.raises(CatalogError, match="disagrees with the audit trail"):
            export_batch(catalog, user="alex", batch=_batch_of(tenant, first))
    assert all(b.state and b.seq is None for b in breaks)
    # Actions are checked in the order of their ids, then the waivers.
    assert [b.problem.split(": ", 1)[1] for b in breaks] == [
        "it is approved by sam, but the audit trail holds no such decision (edited by hand)",
        "its change differs from what its run proposed (edited by hand)",
        "its end date, reason or author differs from its waive entry in the audit trail "
        "(edited by hand)",
    ]


def _open_key(folder, rule_id: str) -> str:
    con = sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite")
    key = con.execute("SELECT key FROM findings WHERE rule_id = ? LIMIT 1", (rule_id,)).fetchone()
    con.close()
    return key[0]


def _batch_of(folder, action_id: str) -> str:
    con = sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite")
    batch = con.execute("SELECT batch_id FROM actions WHERE action_id = ?", (action_id,)).fetchone()
    con.close()
    return batch[0]


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

"""Applying approved batches to a real PostgreSQL server: guarded, idempotent, retried,
and confirmed (or flagged) by the next run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from engine import audit, batches
from engine.apply import apply_batch
from engine.audit_state import proposal_detail
from engine.catalog import Catalog
from engine.config import load_workspace
from tests.engine.harborline import actions_of, make_tenant, run

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")
ITEMS = "2026-11.001/wms:item"
WEIGHT_NOTE = "wms computes it as WEIGHT_LB * 0.45359237"
ITEM = {"table": "sku_master"}
WEIGHT = {"weight_kg": "WEIGHT_LB"}
TARGETS = {
    "wms": {
        "kind": "postgres",
        "dsn": "env:HARBORLINE_WMS_DSN",
        "entities": {"item": {"table": "sku_master"}},
    },
    "finance": {
        "kind": "postgres",
        "dsn": "env:HARBORLINE_FINANCE_DSN",
        "entities": {
            "journal_line": {"table": "gl.journal"},
            "freight_invoice": {
                "table": "ap_invoices",
                "void": {"column": "status", "value": "VOID"},
            },
        },
    },
}
SKU_MASTER = (
    'CREATE TABLE sku_master ("SKU" integer PRIMARY KEY, "DESCRIPTION" text NOT NULL, '
    '"WEIGHT_LB" numeric(10, 2), "UOM" text NOT NULL)'
)


def _load_sku_master(dsn: str, folder: Path) -> None:
    with psycopg.connect(dsn) as con:
        con.execute(SKU_MASTER)
        with con.cursor().copy("COPY sku_master FROM STDIN (FORMAT csv, HEADER true)") as copy:
            copy.write((folder / "wms" / "sku_master.csv").read_bytes())


def _extract_sku_master(dsn: str, folder: Path) -> None:
    """What the next run reads: the WMS item master as it is in the database now."""
    with psycopg.connect(dsn) as con, con.cursor() as cursor:
        query = 'COPY (SELECT * FROM sku_master ORDER BY "SKU") TO STDOUT (FORMAT csv, HEADER true)'
        with cursor.copy(query) as copy:
            data = b"".join(bytes(chunk) for chunk in copy)
    (folder / "wms" / "sku_master.csv").write_bytes(data)


def _rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as con:
        return con.execute(query).fetchall()


def _apply(folder: Path, batch: str, dsn: str, *, retry: bool = False):
    environ = {"HARBORLINE_WMS_DSN": dsn, "HARBORLINE_FINANCE_DSN": dsn}
    with Catalog(folder) as catalog:
        report = apply_batch(
            catalog, load_workspace(folder), user="pat", batch=batch, retry=retry, environ=environ
        )
    keys = {a["action_id"]: (a["key"], a["field"]) for a in actions_of(folder, report.batch_id)}
    return sorted((*keys[o.action_id], o.status, o.reason) for o in report.outcomes)


@pytest.fixture
def approved(tmp_path, postgres_dsn):
    """The sample tenant, its WMS item master in PostgreSQL, the item batch approved."""
    folder = make_tenant(tmp_path, targets=TARGETS)
    _load_sku_master(postgres_dsn, folder)
    run(folder, 1)
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve", comment="go")
    return folder, postgres_dsn


def test_apply_writes_each_guarded_change_once_and_twice_changes_nothing(approved):
    folder, dsn = approved
    assert _apply(folder, "wms:item", dsn) == [
        ("item_id=28657", "", "applied", ""),
        ("item_id=4001", "", "applied", ""),
        ("item_id=43587", "description", "applied", ""),
        ("item_id=85425", "weight_kg", "applied", ""),
    ]
    query = 'SELECT * FROM sku_master WHERE "SKU" IN (28657, 43587, 85425) ORDER BY "SKU"'
    after = _rows(dsn, query)
    # Weights in the WMS's own pounds: the ERP's 221.544 kg and 35.026 kg.
    assert after == [
        (28657, "Compact Polymer Safety Cone", Decimal("488.42"), "EA"),
        (43587, "Standard Aluminum Dock Plate", Decimal("6.12"), "EA"),
        (85425, "Standard Aluminum Wire Deck", Decimal("77.22"), "EA"),
    ]
    # The item the WMS lost is created from the ERP's record, its 4.641 kg in pounds.
    assert _rows(dsn, 'SELECT * FROM sku_master WHERE "SKU" = 4001') == [
        (4001, "Economy Stainless Wire Deck", Decimal("10.23"), "CS")
    ]
    everything = _rows(dsn, 'SELECT * FROM sku_master ORDER BY "SKU"')

    assert _apply(folder, "wms:item", dsn) == []
    assert _rows(dsn, 'SELECT * FROM sku_master ORDER BY "SKU"') == everything

    # Even with the catalog's record lost, the guards recognise their own earlier writes.
    with sqlite3.connect(folder / ".tallyclerk" / "catalog.sqlite") as con:
        con.execute("UPDATE actions SET status = 'approved' WHERE batch_id = ?", (ITEMS,))
    assert [outcome[2:] for outcome in _apply(folder, "wms:item", dsn)] == [
        ("applied", "already in place; nothing changed"),
    ] * 4
    assert _rows(dsn, 'SELECT * FROM sku_master ORDER BY "SKU"') == everything


def test_a_target_column_named_for_a_computed_field_gets_the_source_unit(tmp_path, postgres_dsn):
    targets = {"wms": {**TARGETS["wms"], "entities": {"item": {**ITEM, "columns": WEIGHT}}}}
    folder = make_tenant(tmp_path, targets=targets)
    _load_sku_master(postgres_dsn, folder)
    run(folder, 1)
    weight = next(a for a in actions_of(folder, ITEMS) if a["field"] == "weight_kg")
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve")
    assert _apply(folder, "wms:item", postgres_dsn)[3] == (
        "item_id=85425",
        "weight_kg",
        "applied",
        "",
    )
    assert _rows(postgres_dsn, 'SELECT "WEIGHT_LB" FROM sku_master WHERE "SKU" = 85425') == [
        (Decimal("77.22"),)
    ]

    # A payload holding the canonical kilograms (as tallyclerk once proposed) is never
    # written into the pounds column, whatever the target's columns say.
    legacy = {
        "record": {"SKU": "85425"},
        "set": {"weight_kg": "42.0299"},
        "expect": {"weight_kg": "35.0260"},
        "canonical": {"weight_kg": WEIGHT_NOTE},
    }
    with Catalog(folder) as catalog, catalog.write() as con:
        con.execute(
            "UPDATE actions SET status = 'approved', payload = ? WHERE action_id = ?",
            (json.dumps(legacy), weight["action_id"]),
        )
        # The proposal of the legacy payload, as that run would have recorded it.
        legacy_action = con.execute(
            "SELECT * FROM actions WHERE action_id = ?", (weight["action_id"],)
        ).fetchone()
        audit.append(
            catalog,
            con,
            actor="system",
            verb="propose",
            subject=f"batch:{legacy_action['batch_id']}",
            detail=proposal_detail([legacy_action]),
        )
    assert _apply(folder, "wms:item", postgres_dsn) == [
        (
            "item_id=85425",
            "weight_kg",
            "failed",
            f"wms cannot take weight_kg: {WEIGHT_NOTE}; the value is canonical, not wms's own, "
            "so it is not written; change it by hand in wms.",
        )
    ]
    assert _rows(postgres_dsn, 'SELECT "WEIGHT_LB" FROM sku_master WHERE "SKU" = 85425') == [
        (Decimal("77.22"),)
    ]


def test_a_target_column_other_than_the_source_field_is_refused(tmp_path, postgres_dsn):
    item = {**ITEM, "columns": {"weight_kg": "WEIGHT_KG"}}
    folder = make_tenant(tmp_path, targets={"wms": {**TARGETS["wms"], "entities": {"item": item}}})
    _load_sku_master(postgres_dsn, folder)
    run(folder, 1)
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch=ITEMS, decision="approve")
    outcomes = _apply(folder, "wms:item", postgres_dsn)
    assert outcomes[3][2:] == (
        "failed",
        "wms cannot take WEIGHT_LB: targets.wms.entities.item.columns maps weight_kg onto "
        "WEIGHT_KG, but wms reads weight_kg as WEIGHT_LB * 0.45359237, so the value is "
        "WEIGHT_LB in its own unit; map weight_kg onto WEIGHT_LB, or leave it out of columns; "
        "change it by hand in wms.",
    )


def test_a_row_changed_after_the_run_is_a_conflict_and_is_not_overwritten(approved):
    folder, dsn = approved
    with psycopg.connect(dsn) as con:
        con.execute(
            'UPDATE sku_master SET "DESCRIPTION" = %s WHERE "SKU" = 43587', ["Dock Plate, 2 m"]
        )
    env = {**os.environ, "NO_COLOR": "1", "HARBORLINE_WMS_DSN": dsn, "TALLYCLERK_USER": "pat"}
    result = subprocess.run(
        [TALLYCLERK, "batches", "apply", str(folder), "wms:item"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 1, result.stderr
    update = next(a for a in actions_of(folder, ITEMS) if a["key"] == "item_id=43587")
    reason = (
        "sku_master row SKU=43587 changed since the run: DESCRIPTION is 'Dock Plate, 2 m', "
        "the run saw 'Standard Aluminum Dock Rack'"
    )
    assert f"{update['action_id'][:12]} conflicted: {reason}" in result.stdout
    assert " ".join(result.stdout.split()).endswith(
        f"Batch {ITEMS}: 3 applied, 1 conflicted, 0 failed."
    )
    assert (update["status"], update["reason"]) == ("conflicted", reason)
    assert _rows(dsn, 'SELECT "DESCRIPTION" FROM sku_master WHERE "SKU" = 43587') == [
        ("Dock Plate, 2 m",)
    ]


def test_failed_actions_are_retried_once_the_target_is_fixed(tmp_path, postgres_dsn):
    folder = make_tenant(tmp_path, targets=TARGETS)
    run(folder, 1)
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="sam", batch=ITEMS, decision="approve")
    missing = 'relation "sku_master" does not exist'
    assert [o[2:] for o in _apply(folder, "wms:item", postgres_dsn)] == [
        ("failed", missing),
    ] * 4
    _load_sku_master(postgres_dsn, folder)
    assert _apply(folder, "wms:item", postgres_dsn) == []
    assert [o[2] for o in _apply(folder, "wms:item", postgres_dsn, retry=True)] == ["applied"] * 4
    assert [(a["status"], a["attempts"]) for a in actions_of(folder, ITEMS)] == [("applied", 2)] * 4


def test_the_next_run_confirms_applied_fixes(approved):
    folder, dsn = approved
    _apply(folder, "wms:item", dsn)
    _extract_sku_master(dsn, folder)
    second = run(folder, 2)
    resolved = sorted((r["key"], r["field"]) for r in second.resolved.to_pylist())
    # The weight written in pounds reads back as the ERP's kilograms: resolved too. The item
    # created in the WMS was a root cause: its shipment line and stock rows resolve with it.
    assert resolved == [
        ("item_id=28657", ""),
        ("item_id=4001", ""),
        ("item_id=43587", "description"),
        ("item_id=85425", "weight_kg"),
        ("location_id=WH02, item_id=4001", "item_id"),
        ("location_id=WH03, item_id=4001", "item_id"),
        ("location_id=WH04, item_id=4001", "item_id"),
        ("shipment_id=SH-0000088, line_no=2", "item_id"),
    ]
    assert (second.batches.confirmed, second.batches.flagged) == (4, ())
    confirmations = [(a["key"], a["status"], a["confirmation"]) for a in actions_of(folder, ITEMS)]
    assert confirmations == [
        ("item_id=28657", "applied", "confirmed"),
        ("item_id=4001", "applied", "confirmed"),
        ("item_id=43587", "applied", "confirmed"),
        ("item_id=85425", "applied", "confirmed"),
    ]


def test_the_next_run_flags_applied_actions_whose_finding_persists(approved):
    folder, dsn = approved
    _apply(folder, "wms:item", dsn)
    # The WMS extract the next run reads predates the fix.
    second = run(folder, 2)
    flagged = {a["action_id"]: a["key"] for a in actions_of(folder, ITEMS)}
    assert sorted(flagged[action_id] for action_id in second.batches.flagged) == [
        "item_id=28657",
        "item_id=4001",
        "item_id=43587",
        "item_id=85425",
    ]
    assert [a["confirmation"] for a in actions_of(folder, ITEMS)] == ["finding_persists"] * 4


def test_journal_and_void_actions_write_in_the_finance_system(tmp_path, postgres_dsn):
    folder = make_tenant(tmp_path, targets=TARGETS)
    with psycopg.connect(postgres_dsn) as con:
        con.execute("CREATE SCHEMA gl")
        con.execute(
            "CREATE TABLE gl.journal (journal_no text, line_no integer, account text NOT NULL, "
            "location text, amount numeric(18, 2) NOT NULL, posting_date date NOT NULL, "
            "description text, PRIMARY KEY (journal_no, line_no))"
        )
        con.execute(
            "CREATE TABLE ap_invoices (ap_document text PRIMARY KEY, status text NOT NULL "
            "DEFAULT 'OPEN')"
        )
        con.execute("INSERT INTO ap_invoices VALUES ('AP-000052', 'OPEN'), ('AP-000054', 'OPEN')")
    run(folder, 1)
    invoices = actions_of(folder, "2026-11.001/finance:freight_invoice")
    void = next(a["action_id"] for a in invoices if a["kind"] == "void")
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="alex", batch="finance:journal_line", decision="approve")
        batches.decide(
            catalog,
            user="alex",
            batch="finance:freight_invoice",
            decision="approve",
            actions=[void],
        )
    assert [o[2:] for o in _apply(folder, "finance:journal_line", postgres_dsn)] == [
        ("applied", "")
    ]
    journal = _rows(postgres_dsn, "SELECT * FROM gl.journal ORDER BY line_no")
    number = journal[0][0]
    assert number.startswith("TC-") and len(number) == 13
    assert [row[1:] for row in journal] == [
        (1, "1300", "WH02", Decimal("-1250.00"), journal[0][5], journal[0][6]),
        (2, "5000", "WH02", Decimal("1250.00"), journal[0][5], journal[0][6]),
    ]
    assert str(journal[0][5]) == "2026-11-30"
    assert journal[0][6] == (
        "Inventory valuation adjustment: inventory-value-vs-ledger location_id=WH02"
    )
    applied = _apply(folder, "finance:freight_invoice", postgres_dsn)
    assert [o[2:] for o in applied] == [("applied", "")]
    assert _rows(postgres_dsn, "SELECT * FROM ap_invoices ORDER BY 1") == [
        ("AP-000052", "OPEN"),
        ("AP-000054", "VOID"),
    ]


def test_an_applied_fix_undone_later_is_flagged_and_proposed_again(approved):
    folder, dsn = approved
    _apply(folder, "wms:item", dsn)
    _extract_sku_master(dsn, folder)
    assert run(folder, 2).batches.confirmed == 4

    # Someone puts the old description back in the WMS.
    with psycopg.connect(dsn) as con:
        con.execute(
            'UPDATE sku_master SET "DESCRIPTION" = %s WHERE "SKU" = 43587',
            ["Standard Aluminum Dock Rack"],
        )
    _extract_sku_master(dsn, folder)
    third = run(folder, 3)
    applied = next(a for a in actions_of(folder, ITEMS) if a["key"] == "item_id=43587")
    assert third.batches.undone == (applied["action_id"],)
    assert (applied["status"], applied["confirmation"]) == ("applied", "finding_reopened")
    (again,) = actions_of(folder, "2026-11.003/wms:item")
    assert (again["key"], again["status"], again["payload"]) == (
        "item_id=43587",
        "pending",
        applied["payload"],
    )
    with Catalog(folder) as catalog:
        batches.decide(catalog, user="sam", batch="wms:item", decision="approve")
    assert _apply(folder, "wms:item", dsn) == [("item_id=43587", "description", "applied", "")]

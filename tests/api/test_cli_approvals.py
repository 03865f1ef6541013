"""The approval workflow on the command line: identity, four eyes, racing approvers,
findings lists and audit verification, each through the real `tallyclerk` executable."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

TALLYCLERK = str(Path(sys.executable).parent / "tallyclerk")
ITEMS = "2026-11.001/wms:item"
CUSTOMERS = "2026-11.001/erp:customer"


def _env(user: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TALLYCLERK_USER"}
    env["NO_COLOR"] = "1"
    if user:
        env["TALLYCLERK_USER"] = user
    return env


def _run(*args: str, user: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [TALLYCLERK, *args], capture_output=True, text=True, timeout=120, env=_env(user)
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def tenant(tmp_path, closed_harborline) -> Path:
    return closed_harborline(tmp_path / "harborline", user="ada")


def test_four_eyes_refusal_names_who_prepared_the_batch(tenant):
    refused = _run("batches", "approve", str(tenant), "wms:item", "--as", "ada")
    assert refused.returncode == 3
    assert _one_line(refused.stderr) == (
        f"error: four eyes: ada prepared batch {ITEMS}, so another approver must approve it."
    )
    approved = _run("batches", "approve", str(tenant), "wms:item", "--comment", "ok", user="alex")
    assert approved.returncode == 0, approved.stderr
    assert _one_line(approved.stdout) == f"Batch {ITEMS}: alex approved 4 actions (revision 1)."


def test_identity_is_required_and_checked_against_the_workspace_roles(tenant):
    nobody = _run("batches", "approve", str(tenant), "wms:item")
    assert nobody.returncode == 3
    assert "who is acting? Pass --as USER or set TALLYCLERK_USER" in _one_line(nobody.stderr)
    stranger = _run("batches", "approve", str(tenant), "wms:item", "--as", "mallory")
    assert stranger.returncode == 3
    assert "unknown user 'mallory'" in _one_line(stranger.stderr)
    viewer = _run("batches", "reject", str(tenant), "wms:item", "--comment", "no", user="vic")
    assert viewer.returncode == 3
    assert "vic is a viewer, and to decide needs the role admin or approver" in _one_line(
        viewer.stderr
    )


def _race(tenant: Path, commands: list[list[str]]) -> list[subprocess.CompletedProcess]:
    """Start every command while the catalog is locked, then let them all go at once."""
    holder = sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    processes = [
        subprocess.Popen(
            [TALLYCLERK, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for command in commands
    ]
    time.sleep(2.5)  # long enough for both to load and queue on the catalog's write lock
    holder.execute("COMMIT")
    holder.close()
    results = []
    for process, command in zip(processes, commands, strict=True):
        stdout, stderr = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


def test_two_processes_approving_one_batch_at_once_exactly_one_wins(tenant):
    users = ("alex", "sam")
    results = _race(
        tenant,
        [
            ["batches", "approve", str(tenant), ITEMS, "--as", user, "--comment", user]
            for user in users
        ],
    )
    assert sorted(r.returncode for r in results) == [0, 4]
    winner = users[[r.returncode for r in results].index(0)]
    loser = next(r for r in results if r.returncode == 4)
    assert _one_line(loser.stderr).startswith(
        f"error: batch {ITEMS} has no pending actions left to decide. Last decision: {winner} "
        "approved 4 actions at "
    )
    with sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite") as con:
        decisions = con.execute(
            "SELECT user_id, decision, count(*) FROM decisions WHERE batch_id = ? "
            "GROUP BY user_id, decision",
            (ITEMS,),
        ).fetchall()
        revision = con.execute(
            "SELECT revision FROM batches WHERE batch_id = ?", (ITEMS,)
        ).fetchone()
    assert decisions == [(winner, "approve", 4)]
    assert revision == (1,)
    assert _run("audit", "verify", str(tenant)).returncode == 0


def test_an_approval_racing_a_rejection_leaves_one_decision_and_nothing_half_done(tenant):
    results = _race(
        tenant,
        [
            ["batches", "approve", str(tenant), CUSTOMERS, "--as", "alex"],
            ["batches", "reject", str(tenant), CUSTOMERS, "--as", "sam", "--comment", "no"],
        ],
    )
    assert sorted(r.returncode for r in results) == [0, 4]
    with sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite") as con:
        statuses = con.execute(
            "SELECT DISTINCT status, decided_by FROM actions WHERE batch_id = ?", (CUSTOMERS,)
        ).fetchall()
    assert statuses in ([("approved", "alex")], [("rejected", "sam")])


def test_findings_list_filters_and_writes_every_format(tenant):
    listed = _run(
        "findings", "list", str(tenant), "latest", "--rule", "item-master-sync", "--format", "csv"
    )
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert sorted((r["key"], r["field"], r["status"], r["age_days"]) for r in rows) == [
        ("item_id=28657", "", "new", "0"),
        ("item_id=33217", "", "new", "0"),
        ("item_id=4001", "", "new", "0"),
        ("item_id=43587", "description", "new", "0"),
        ("item_id=85425", "weight_kg", "new", "0"),
    ]
    waived = _run(
        "findings",
        "waive",
        str(tenant),
        "--rule",
        "item-master-sync",
        "--key",
        "item_id=33217",
        "--until",
        "2099-01-31",
        "--reason",
        "sample stand",
        "--as",
        "alex",
    )
    assert waived.returncode == 0, waived.stderr
    with sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite") as con:
        ((route,),) = con.execute(
            "SELECT action_id FROM actions WHERE key = 'item_id=33217' AND status = 'withdrawn'"
        ).fetchall()
    assert _one_line(waived.stdout) == (
        "Waiver 1: item-master-sync for item_id=33217 waived until 2099-01-31 by alex. "
        f"Withdrawn, so they are not applied while it waits: 1 action ({route[:12]})."
    )
    again = _run(*waived.args[1:])
    assert (again.returncode, _one_line(again.stdout)) == (
        0,
        "Waiver 1 already waives item-master-sync for item_id=33217 until 2099-01-31 for this "
        "reason; nothing changed.",
    )
    as_json = _run(
        "findings", "list", str(tenant), "2026-11.001", "--status", "waived", "--format", "json"
    )
    (row,) = json.loads(as_json.stdout)
    assert (row["key"], row["waived_until"], row["waiver_reason"]) == (
        "item_id=33217",
        "2099-01-31",
        "sample stand",
    )
    out = tenant / "resolved.parquet"
    written = _run(
        "findings",
        "list",
        str(tenant),
        "latest",
        "--status",
        "resolved",
        "--format",
        "parquet",
        "--output",
        str(out),
    )
    assert written.returncode == 0 and pq.read_table(out).num_rows == 0
    binary = _run("findings", "list", str(tenant), "latest", "--format", "parquet")
    assert binary.returncode == 2
    assert _one_line(binary.stderr) == "error: parquet is binary: pass --output FILE to write it."
    missing = _run("findings", "list", str(tenant), "2026-10.001")
    assert missing.returncode == 2
    assert "no run '2026-10.001'" in _one_line(missing.stderr)


def test_audit_verify_on_the_command_line_names_the_edited_entry(tenant):
    assert _run("batches", "approve", str(tenant), ITEMS, user="alex").returncode == 0
    # Five role changes, the run, a proposal per batch, the policy's approval and alex's.
    with sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite") as con:
        (proposals,) = con.execute("SELECT count(*) FROM batches").fetchone()
    last = 5 + 1 + proposals + 2
    intact = _run("audit", "verify", str(tenant))
    assert (intact.returncode, _one_line(intact.stdout)) == (
        0,
        f"The audit trail is intact: {last} entries, each hash and link checks out.",
    )
    with sqlite3.connect(tenant / ".tallyclerk" / "catalog.sqlite") as con:
        con.execute("UPDATE audit SET actor = 'sam' WHERE seq = ?", (last,))
    broken = _run("audit", "verify", str(tenant))
    assert broken.returncode == 1
    lines = broken.stderr.splitlines()
    assert lines[0] == f"entry {last}: its content does not match its hash (edited)"
    # The edited entry no longer names alex, so his four approvals stand on nothing.
    assert [line.split(": ", 2)[2] for line in lines[1:5]] == [
        "it is approved by alex, but the audit trail holds no such decision (edited by hand)"
    ] * 4
    assert lines[5] == f"The audit trail was tampered with: 5 problems in {last} entries."
    listed = _run("audit", "list", str(tenant), "--format", "json", "--actor", "sam")
    (entry,) = json.loads(listed.stdout)
    assert (entry["seq"], entry["verb"], entry["subject"]) == (last, "approve", f"batch:{ITEMS}")

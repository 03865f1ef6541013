"""What a run does to batches and to earlier actions: its new actions form batches, and
each earlier action is confirmed, flagged or made obsolete by what the run finds.

An action's id is its idempotency key, so a finding asking for the same change
keeps the same action. An action that ended without effect (made obsolete, withdrawn
when its finding was waived, or conflicted), or one whose finding was fixed and then
came back, no longer speaks for an open finding: the change is proposed again
under the next id of the same line (`renewed_id`), so the finding has a live
action and the renewal stays idempotent from run to run.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from . import audit
from .audit_state import proposal_detail
from .batches import POLICY_ACTOR, SYSTEM_ACTOR, batch_actions, record_decisions
from .catalog import Catalog
from .policy import Policy

# Statuses of an action that ended without changing anything in its target system, and
# will not be tried again: a finding they were for needs the change proposed anew.
SPENT = ("obsolete", "withdrawn", "conflicted")
# Statuses an earlier action may still move on from when its finding is resolved.
_OPEN = ("pending", "approved", "failed", "conflicted", "applied")


@dataclass(frozen=True)
class RegisterSummary:
    """What recording a run did to batches and earlier actions."""

    batches: tuple[str, ...]
    new_actions: int
    auto_approved: int
    obsolete: int
    confirmed: int
    # Applied actions whose finding persists.
    flagged: tuple[str, ...]
    # Applied and confirmed actions whose finding came back: the fix was undone.
    undone: tuple[str, ...] = ()
    # New actions for findings that were resolved and are open again.
    for_reopened: int = 0


def batch_id_for(run_id: str, target_system: str, entity: str) -> str:
    return f"{run_id}/{target_system}:{entity}"


def renewed_id(action_id: str, generation: int) -> str:
    """The id of the `generation`-th renewal of an action; generation 0 is the action."""
    if generation == 0:
        return action_id
    return hashlib.sha256(f"{action_id}|{generation}".encode()).hexdigest()[:32]


def live_actions(con: sqlite3.Connection, actions: pa.Table, reopened: set[str]) -> pa.Table:
    """The run's actions under the id that speaks for each finding now: the latest renewal
    of the change, or a new one when that one is spent (see the module's docstring)."""
    if actions.num_rows == 0:
        return actions
    known = {
        row["action_id"]: row
        for row in con.execute("SELECT action_id, status, confirmation FROM actions")
    }
    ids = [
        _live_id(action_id, known, reopened=finding_id in reopened)
        for action_id, finding_id in zip(
            actions["action_id"].to_pylist(), actions["finding_id"].to_pylist(), strict=True
        )
    ]
    index = actions.schema.get_field_index("action_id")
    return actions.set_column(index, "action_id", pa.array(ids, pa.string()))


def _live_id(action_id: str, known: Mapping[str, sqlite3.Row], *, reopened: bool) -> str:
    generation = 0
    while renewed_id(action_id, generation + 1) in known:
        generation += 1
    last = known.get(renewed_id(action_id, generation))
    if last is not None and _spent(last, reopened=reopened):
        generation += 1
    return renewed_id(action_id, generation)


def _spent(action: sqlite3.Row, *, reopened: bool) -> bool:
    if action["status"] in SPENT:
        return True
    # A reopened finding is a new occurrence: what was decided or done for the old one
    # (rejected, applied and confirmed, conflicted) does not speak for it.
    return reopened and (
        action["status"] in ("rejected", "applied") or action["confirmation"] == "confirmed"
    )


def register_run(
    catalog: Catalog,
    con: sqlite3.Connection,
    *,
    run_id: str,
    actions: pa.Table,
    open_findings: set[str],
    resolved: set[str],
    reopened: set[str],
    policy: Policy,
    prepared_by: str | None,
    now: datetime,
) -> RegisterSummary:
    """Record a run's actions in the caller's write transaction.

    An action whose idempotency key is already in the catalog stays where it is;
    new ones form this run's batches. Earlier actions whose finding this run no
    longer finds are confirmed when they were applied, and obsolete otherwise; an
    applied one whose finding persists, or comes back after it was confirmed, is flagged.
    """
    at = now.isoformat(timespec="seconds")
    known = {row[0] for row in con.execute("SELECT action_id FROM actions")}
    fresh = [row for row in actions.to_pylist() if row["action_id"] not in known]
    batches: dict[str, list[dict]] = {}
    for row in fresh:
        batch_id = batch_id_for(run_id, row["target_system"], row["entity"])
        batches.setdefault(batch_id, []).append(row)

    auto = 0
    for batch_id, rows in sorted(batches.items()):
        con.execute(
            "INSERT INTO batches (batch_id, run_id, target_system, entity, prepared_by) "
            "VALUES (?, ?, ?, ?, ?)",
            (batch_id, run_id, rows[0]["target_system"], rows[0]["entity"], prepared_by),
        )
        approved = [row["action_id"] for row in rows if row["risk"] in policy.auto_approve]
        for row in rows:
            _insert(con, row, batch_id, run_id, at, automatic=row["action_id"] in approved)
        audit.append(
            catalog,
            con,
            actor=prepared_by or SYSTEM_ACTOR,
            verb="propose",
            subject=f"batch:{batch_id}",
            detail=proposal_detail(batch_actions(con, batch_id)),
            at=now,
        )
        if approved:
            record_decisions(con, batch_id, approved, "approve", POLICY_ACTOR, at, None)
            audit.append(
                catalog,
                con,
                actor=POLICY_ACTOR,
                verb="approve",
                subject=f"batch:{batch_id}",
                detail={"actions": approved, "auto_approve": list(policy.auto_approve)},
                why="risk level approved by the workspace policy",
                at=now,
            )
            auto += len(approved)

    obsolete, confirmed, flagged = _follow_up(con, run_id, open_findings, resolved)
    undone = _undone(con, run_id, reopened)
    return RegisterSummary(
        batches=tuple(sorted(batches)),
        new_actions=len(fresh),
        auto_approved=auto,
        obsolete=obsolete,
        confirmed=confirmed,
        flagged=tuple(flagged),
        undone=tuple(undone),
        for_reopened=sum(row["finding_id"] in reopened for row in fresh),
    )


def _insert(
    con: sqlite3.Connection, row: dict, batch_id: str, run_id: str, at: str, *, automatic: bool
) -> None:
    con.execute(
        "INSERT INTO actions (action_id, batch_id, run_id, kind, target_system, entity, "
        "key, field, payload, finding_id, rule_id, amount_at_risk, risk, status, "
        "decided_by, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            row["action_id"],
            batch_id,
            run_id,
            row["action"],
            row["target_system"],
            row["entity"],
            row["key"],
            row["field"],
            row["payload"],
            row["finding_id"],
            row["rule_id"],
            None if row["amount_at_risk"] is None else str(row["amount_at_risk"]),
            row["risk"],
            "approved" if automatic else "pending",
            POLICY_ACTOR if automatic else None,
            at if automatic else None,
        ),
    )


def _follow_up(
    con: sqlite3.Connection, run_id: str, open_findings: set[str], resolved: set[str]
) -> tuple[int, int, list[str]]:
    """Only an applied action is confirmed by its finding's resolution; any other is obsolete."""
    obsolete = confirmed = 0
    flagged: list[str] = []
    earlier = con.execute(
        "SELECT action_id, finding_id, status FROM actions WHERE run_id != ? "
        f"AND status IN ({', '.join('?' * len(_OPEN))}) "
        "AND (confirmation IS NULL OR confirmation = 'finding_persists')",
        (run_id, *_OPEN),
    ).fetchall()
    for action in earlier:
        if action["finding_id"] in resolved and action["status"] == "applied":
            _confirm(con, action["action_id"], "confirmed", run_id)
            confirmed += 1
        elif action["finding_id"] in resolved:
            before = "a decision" if action["status"] == "pending" else "tallyclerk applied it"
            con.execute(
                "UPDATE actions SET status = 'obsolete', reason = ? WHERE action_id = ?",
                (f"its finding was resolved by run {run_id} before {before}", action[0]),
            )
            obsolete += 1
        elif action["status"] == "applied" and action["finding_id"] in open_findings:
            _confirm(con, action["action_id"], "finding_persists", run_id)
            flagged.append(action["action_id"])
    return obsolete, confirmed, flagged


def _undone(con: sqlite3.Connection, run_id: str, reopened: set[str]) -> list[str]:
    """Confirmed actions whose finding came back; an unapplied one (confirmed by an older
    tallyclerk) is made obsolete instead, since nothing it did was undone."""
    undone = []
    rows = con.execute(
        "SELECT action_id, finding_id, status FROM actions WHERE confirmation = 'confirmed'"
    ).fetchall()
    for action in (row for row in rows if row["finding_id"] in reopened):
        if action["status"] == "applied":
            _confirm(con, action["action_id"], "finding_reopened", run_id)
            undone.append(action["action_id"])
        else:
            con.execute(
                "UPDATE actions SET status = 'obsolete', confirmation = NULL, reason = ? "
                "WHERE action_id = ?",
                (f"never applied; its finding was reopened by run {run_id}", action[0]),
            )
    return undone


def _confirm(con: sqlite3.Connection, action_id: str, confirmation: str, run_id: str) -> None:
    con.execute(
        "UPDATE actions SET confirmation = ?, confirmed_run = ? WHERE action_id = ?",
        (confirmation, run_id, action_id),
    )

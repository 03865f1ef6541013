"""Approval batches: a run's new actions grouped by target system and entity (see
`engine.register`), and the decisions people (or the auto-approve policy) take on them.

Every decision runs in one write transaction of the catalog and checks the state
it changes inside it, so of two people deciding the same actions at the same
moment exactly one succeeds and the other gets a `ConflictError`. Four eyes: the
person who prepared (ran) or submitted a batch may not approve it; rejecting it,
which changes nothing in any system, they may.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from tallyclerk.errors import AccessError, ConfigError, ConflictError
from tallyclerk.wording import plural

from . import audit
from .catalog import Catalog

ACTION_STATUSES = (
    "pending",
    "approved",
    "rejected",
    "applying",
    "applied",
    "conflicted",
    "failed",
    "obsolete",
    "withdrawn",
)
# A decision as a verb in the past: "sam rejected 1 action".
PAST = {"approve": "approved", "reject": "rejected"}
POLICY_ACTOR = "policy:auto_approve"
SYSTEM_ACTOR = "system"


def find_batch(con: sqlite3.Connection, ref: str) -> sqlite3.Row:
    """A batch by its id, or by `target:entity` for that pair's newest batch."""
    row = con.execute("SELECT * FROM batches WHERE batch_id = ?", (ref,)).fetchone()
    if row is None and "/" not in ref:
        row = con.execute(
            "SELECT b.* FROM batches b JOIN runs r USING (run_id) "
            "WHERE b.target_system || ':' || b.entity = ? ORDER BY r.seq DESC LIMIT 1",
            (ref,),
        ).fetchone()
    if row is None:
        raise ConfigError(
            f"no batch {ref!r} in this workspace; `tallyclerk batches list` shows them "
            "(ids look like 2026-11.001/wms:item)."
        )
    return row


def batch_actions(con: sqlite3.Connection, batch_id: str) -> list[sqlite3.Row]:
    return con.execute(
        "SELECT * FROM actions WHERE batch_id = ? ORDER BY key, field, action_id", (batch_id,)
    ).fetchall()


def batch_state(counts: Counter) -> str:
    """One word for a batch, from how many of its actions are in each status."""
    total = sum(counts.values())
    if counts["pending"] == total:
        return "pending"
    if counts["pending"]:
        return "partly decided"
    if counts["applying"]:
        return "applying"
    if counts["approved"] or counts["failed"]:
        return "approved"
    return "rejected" if counts["rejected"] == total else "done"


def submit(catalog: Catalog, *, user: str, batch: str, comment: str | None) -> str:
    """A preparer hands a batch to the approvers; they may not approve it themselves."""
    now = datetime.now(UTC)
    with catalog.write() as con:
        row = find_batch(con, batch)
        if row["submitted_by"] is not None:
            raise ConflictError(
                f"batch {row['batch_id']} was already submitted by {row['submitted_by']} at "
                f"{row['submitted_at']}."
            )
        con.execute(
            "UPDATE batches SET submitted_by = ?, submitted_at = ?, revision = revision + 1 "
            "WHERE batch_id = ?",
            (user, now.isoformat(timespec="seconds"), row["batch_id"]),
        )
        audit.append(
            catalog,
            con,
            actor=user,
            verb="submit",
            subject=f"batch:{row['batch_id']}",
            why=comment,
            at=now,
        )
    return row["batch_id"]


@dataclass(frozen=True)
class Decision:
    batch_id: str
    decision: str
    actions: tuple[str, ...]
    still_pending: int
    revision: int


def decide(
    catalog: Catalog,
    *,
    user: str,
    batch: str,
    decision: str,
    actions: list[str] | None = None,
    comment: str | None = None,
    revision: int | None = None,
) -> Decision:
    """Approve or reject some or all pending actions of a batch, in one transaction."""
    if decision not in ("approve", "reject"):
        raise ConfigError(f"unknown decision {decision!r}: approve or reject.")
    if decision == "reject" and not (comment or "").strip():
        raise ConfigError("a rejection needs a reason: pass --comment saying why.")
    now = datetime.now(UTC)
    at = now.isoformat(timespec="seconds")
    with catalog.write() as con:
        row = find_batch(con, batch)
        batch_id = row["batch_id"]
        authors = {row["prepared_by"]: "prepared", row["submitted_by"]: "submitted"}
        if decision == "approve" and user in authors:
            raise AccessError(
                f"four eyes: {user} {authors[user]} batch {batch_id}, so another approver "
                "must approve it."
            )
        if revision is not None and revision != row["revision"]:
            raise ConflictError(
                f"batch {batch_id} is at revision {row['revision']}, not {revision}: it changed "
                f"since you looked; `tallyclerk batches show` it again. {_last(con, batch_id)}"
            )
        chosen = _chosen(con, batch_id, actions)
        status = "approved" if decision == "approve" else "rejected"
        con.executemany(
            "UPDATE actions SET status = ?, decided_by = ?, decided_at = ?, comment = ? "
            "WHERE action_id = ?",
            [(status, user, at, comment, action_id) for action_id in chosen],
        )
        record_decisions(con, batch_id, chosen, decision, user, at, comment)
        con.execute("UPDATE batches SET revision = revision + 1 WHERE batch_id = ?", (batch_id,))
        pending = con.execute(
            "SELECT count(*) FROM actions WHERE batch_id = ? AND status = 'pending'", (batch_id,)
        ).fetchone()[0]
        audit.append(
            catalog,
            con,
            actor=user,
            verb=decision,
            subject=f"batch:{batch_id}",
            detail={"actions": chosen, "partial": bool(pending), "revision": row["revision"] + 1},
            why=comment,
            at=now,
        )
    return Decision(batch_id, decision, tuple(chosen), pending, row["revision"] + 1)


def _chosen(con: sqlite3.Connection, batch_id: str, wanted: list[str] | None) -> list[str]:
    """The pending actions a decision is about, or a conflict naming who decided them."""
    rows = batch_actions(con, batch_id)
    if not wanted:
        pending = [r["action_id"] for r in rows if r["status"] == "pending"]
        if not pending:
            raise ConflictError(
                f"batch {batch_id} has no pending actions left to decide. {_last(con, batch_id)}"
            )
        return pending
    chosen, taken = [], []
    for prefix in wanted:
        matches = [r for r in rows if r["action_id"].startswith(prefix)]
        if len(matches) != 1:
            raise ConfigError(
                f"action {prefix!r} matches {len(matches)} actions of batch {batch_id}; "
                "give more characters of its id (`tallyclerk batches show` lists them)."
            )
        match = matches[0]
        if match["status"] in ("approved", "rejected"):
            taken.append(f"{match['action_id'][:12]} is {match['status']} by {match['decided_by']}")
        elif match["status"] != "pending":
            why = f" ({match['reason']})" if match["reason"] else ""
            taken.append(f"{match['action_id'][:12]} is {match['status']}{why}")
        chosen.append(match["action_id"])
    if taken:
        raise ConflictError(f"batch {batch_id}: {'; '.join(taken)}; nothing was decided.")
    return list(dict.fromkeys(chosen))


def _last(con: sqlite3.Connection, batch_id: str) -> str:
    row = con.execute(
        "SELECT decision, user_id, at, count(*) AS n FROM decisions WHERE batch_id = ? "
        "GROUP BY decision, user_id, at ORDER BY max(decision_id) DESC LIMIT 1",
        (batch_id,),
    ).fetchone()
    if row is None:
        return ""
    done = PAST[row["decision"]]
    return f"Last decision: {row['user_id']} {done} {plural(row['n'], 'action')} at {row['at']}."


def record_decisions(
    con: sqlite3.Connection,
    batch_id: str,
    action_ids: list[str],
    decision: str,
    user: str,
    at: str,
    comment: str | None,
) -> None:
    con.executemany(
        "INSERT INTO decisions (batch_id, action_id, decision, user_id, at, comment) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(batch_id, action_id, decision, user, at, comment) for action_id in action_ids],
    )

"""The catalog's actions and waivers checked against the audit trail.

The trail is hash-chained; the rows that export and apply act on are not. Every action
is recorded in the trail when a run proposes it (a digest of what it changes), and every
decision names its actions, so an action edited, added or approved by hand, or a waiver
moved, no longer agrees with the trail.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping

# An action in any of these states was approved by someone the trail must name.
APPROVED_STATES = ("approved", "applying", "applied", "conflicted", "failed")


def action_digest(action: Mapping) -> str:
    """What a catalog action changes, as a hash: its kind, target, record, field, payload."""
    fields = [
        action["kind"],
        action["target_system"],
        action["entity"],
        action["key"],
        action["field"],
        action["payload"],
        action["finding_id"],
        action["risk"],
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def proposal_detail(actions: Iterable[Mapping]) -> dict:
    """The detail of a `propose` entry: each action's digest, by its id."""
    return {"actions": {action["action_id"]: action_digest(action) for action in actions}}


def state_problems(con: sqlite3.Connection, *, batch_id: str | None = None) -> list[str]:
    """Each action (of one batch, or all) and waiver that disagrees with the trail."""
    proposed: dict[str, str] = {}
    decided: dict[str, tuple[str, str]] = {}
    waived: dict[int, tuple[str, str | None, str]] = {}
    for entry in con.execute(
        "SELECT actor, verb, detail, why FROM audit "
        "WHERE verb IN ('propose', 'approve', 'reject', 'waive') ORDER BY seq"
    ):
        detail = json.loads(entry["detail"])
        if entry["verb"] == "propose":
            proposed.update(detail["actions"])
        elif entry["verb"] == "waive":
            waived[detail["waiver_id"]] = (detail["until"], entry["why"], entry["actor"])
        else:
            decided.update({a: (entry["verb"], entry["actor"]) for a in detail["actions"]})

    problems = []
    where, args = ("WHERE batch_id = ?", (batch_id,)) if batch_id else ("", ())
    for action in con.execute(f"SELECT * FROM actions {where} ORDER BY action_id", args):
        problems += _action_problems(action, proposed, decided)
    if batch_id is None:
        for waiver in con.execute("SELECT * FROM waivers ORDER BY waiver_id"):
            recorded = waived.get(waiver["waiver_id"])
            if recorded != (waiver["until"], waiver["reason"], waiver["created_by"]):
                problems.append(
                    f"waiver {waiver['waiver_id']}: its end date, reason or author differs "
                    "from its waive entry in the audit trail (edited by hand)"
                )
    return problems


def _action_problems(
    action: sqlite3.Row, proposed: dict[str, str], decided: dict[str, tuple[str, str]]
) -> list[str]:
    name = f"action {action['action_id'][:12]} of batch {action['batch_id']}"
    digest = proposed.get(action["action_id"])
    if digest is None:
        return [f"{name}: no run proposed it (added by hand)"]
    if digest != action_digest(action):
        return [f"{name}: its change differs from what its run proposed (edited by hand)"]
    verb = "approve" if action["status"] in APPROVED_STATES else None
    verb = "reject" if action["status"] == "rejected" else verb
    if verb is not None and decided.get(action["action_id"]) != (verb, action["decided_by"]):
        return [
            f"{name}: it is {action['status']} by {action['decided_by']}, but the audit trail "
            f"holds no such decision (edited by hand)"
        ]
    return []

"""Corrective actions derived from findings by the ownership policy, grouped in batches.

An action's id is its idempotency key: the same finding asking for the same
change gives the same id in every run, so applying it twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

ACTIONS_SCHEMA = pa.schema(
    [
        ("action_id", pa.string()),
        ("batch_id", pa.string()),
        ("action", pa.string()),
        ("target_system", pa.string()),
        ("entity", pa.string()),
        ("key", pa.string()),
        ("field", pa.string()),
        ("payload", pa.string()),
        ("finding_id", pa.string()),
        ("rule_id", pa.string()),
        ("severity", pa.string()),
        ("amount_at_risk", pa.decimal128(18, 2)),
        ("risk", pa.string()),
        ("status", pa.string()),
    ]
)

# Money at risk above which an action needs the most careful review.
HIGH_RISK_AMOUNT = 1000


def derive_actions(findings: pa.Table) -> pa.Table:
    """One action per finding: update, create, or route to a person."""
    every = findings.to_pylist()
    unreliable = {(f["entity"], f["key"]) for f in every if f["problem"] == "quarantined"}
    rows = [_action_for(finding, unreliable) for finding in every]
    rows.sort(key=lambda row: (row["batch_id"], row["key"], row["field"], row["action_id"]))
    return pa.Table.from_pylist(rows, schema=ACTIONS_SCHEMA)


def _action_for(finding: dict, unreliable: set[tuple[str, str]]) -> dict:
    """`unreliable` holds records with a quarantined value: their findings need a person."""
    systems = finding["systems"].split("+")
    owner = finding["owner_system"]
    others = [system for system in systems if system != owner]
    problem = finding["problem"]
    field = finding["field"] or ""

    trusted = (finding["entity"], finding["key"]) not in unreliable
    if problem == "drift" and owner and others and trusted:
        action, target = "update", others[0]
        payload = {"set": {field: finding["owner_value"]}, "expect": finding["other_value"]}
    elif (
        problem.startswith("missing_in_") and owner and problem != f"missing_in_{owner}" and trusted
    ):
        action, target = "create", problem.removeprefix("missing_in_")
        payload = {"copy_from": owner}
    else:
        # Orphans in a consumer, duplicates, totals, sequences and records with
        # quarantined values need a person's judgement.
        action = "review"
        target = owner if owner in systems else systems[0]
        payload = {"problem": problem, "message": finding["message"]}

    payload_text = json.dumps(payload, sort_keys=True, default=str)
    identity = f"{finding['finding_id']}|{action}|{target}|{payload_text}"
    return {
        "action_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "batch_id": f"{target}:{finding['entity']}",
        "action": action,
        "target_system": target,
        "entity": finding["entity"],
        "key": finding["key"],
        "field": field,
        "payload": payload_text,
        "finding_id": finding["finding_id"],
        "rule_id": finding["rule_id"],
        "severity": finding["severity"],
        "amount_at_risk": finding["amount_at_risk"],
        "risk": _risk(finding),
        "status": "proposed",
    }


def _risk(finding: dict) -> str:
    amount = finding["amount_at_risk"]
    if finding["severity"] == "critical" or (amount is not None and amount >= HIGH_RISK_AMOUNT):
        return "high"
    if finding["severity"] == "high" or amount:
        return "medium"
    return "low"

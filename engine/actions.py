"""Corrective actions derived from findings by the ownership policy, grouped in batches.

An action's id is its idempotency key: the same finding asking for the same
change gives the same id in every run, so applying it twice changes nothing.
Payloads name fields as the target system does (see `engine.payloads`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import cast

import pyarrow as pa

from .payloads import PayloadContext, Unwritable
from .policy import ActionKind, Policy

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

_LEVELS = ("low", "medium", "high")


def derive_actions(findings: pa.Table, context: PayloadContext | None = None) -> pa.Table:
    """One action per finding: update, create, void, merge, journal, or route to a person.

    A record with a quarantined value is not trusted to be changed by a machine: every
    finding about it is routed to a person.
    """
    context = context or PayloadContext()
    every = findings.to_pylist()
    unreliable = {(f["entity"], f["key"]) for f in every if f["problem"] == "quarantined"}
    rows = [
        _action_for(f, context, trusted=(f["entity"], f["key"]) not in unreliable) for f in every
    ]
    rows.sort(key=lambda row: (row["batch_id"], row["key"], row["field"], row["action_id"]))
    return pa.Table.from_pylist(rows, schema=ACTIONS_SCHEMA)


def _action_for(finding: dict, context: PayloadContext, *, trusted: bool) -> dict:
    action, target, entity, build = _proposed(finding, context, trusted=trusted)
    try:
        payload = build()
    except Unwritable as refused:
        # The change is wanted, but only a person can make it in the target system.
        action, entity = "route", finding["entity"]
        payload = _route(finding, context, target=target, reason=str(refused))[2]

    payload_text = json.dumps(payload, sort_keys=True, default=str)
    identity = f"{finding['finding_id']}|{action}|{target}|{payload_text}"
    return {
        "action_id": hashlib.sha256(identity.encode()).hexdigest()[:32],
        "batch_id": f"{target}:{entity}",
        "action": action,
        "target_system": target,
        "entity": entity,
        "key": finding["key"],
        "field": finding["field"] or "",
        "payload": payload_text,
        "finding_id": finding["finding_id"],
        "rule_id": finding["rule_id"],
        "severity": finding["severity"],
        "amount_at_risk": finding["amount_at_risk"],
        "risk": action_risk(context.policy, action, finding),
        "status": "proposed",
    }


def _proposed(
    finding: dict, context: PayloadContext, *, trusted: bool
) -> tuple[str, str, str, Callable[[], dict]]:
    """The kind, target system and entity of the action a finding asks for, and how to
    build its payload (which raises Unwritable when the target has no field for it)."""
    systems = finding["systems"].split("+")
    owner = finding["owner_system"]
    others = [system for system in systems if system != owner]
    problem = finding["problem"]
    entity = finding["entity"]
    journal = context.policy.journals.get(finding["rule_id"])
    difference = _difference(finding)

    if trusted and journal is not None and owner and others and difference:
        target = others[0]
        return (
            "journal",
            target,
            "journal_line",
            (lambda: context.journal(finding, target, difference, journal)),
        )
    if trusted and problem == "drift" and owner and others:
        return "update", others[0], entity, lambda: context.update(finding, others[0])
    if (
        trusted
        and finding["kind"] == "match"
        and problem.startswith("missing_in_")
        and owner
        and problem != f"missing_in_{owner}"
    ):
        target = problem.removeprefix("missing_in_")
        return "create", target, entity, lambda: context.create(finding, owner, target)
    if trusted and problem == "duplicate_key" and len(systems) == 1:
        return "void", systems[0], entity, lambda: context.void(finding, systems[0])
    if trusted and problem == "near_duplicate" and len(systems) == 1:
        return "merge", systems[0], entity, lambda: context.merge(finding, systems[0])
    # Orphans in a consumer, totals and sequences need a person's judgement, and so does
    # a record with a quarantined value.
    action, target, payload = _route(finding, context)
    return action, target, entity, lambda: payload


def action_risk(policy: Policy, action: str, finding: dict) -> str:
    """The highest risk that the money at risk, the kind of action and the severity call for."""
    risk = policy.risk
    amount = finding["amount_at_risk"]
    by_amount = "low"
    if amount is not None and amount >= risk.high_amount:
        by_amount = "high"
    elif amount is not None and amount >= risk.medium_amount:
        by_amount = "medium"
    levels = (
        by_amount,
        risk.actions.get(cast(ActionKind, action), "medium"),
        risk.severities.get(finding["severity"], "low"),
    )
    return max(levels, key=_LEVELS.index)


def _route(
    finding: dict,
    context: PayloadContext,
    *,
    target: str | None = None,
    reason: str | None = None,
) -> tuple[str, str, dict]:
    """To a person: in `target`, else the owner's system (or the only one concerned)."""
    systems = finding["systems"].split("+")
    if target is None:
        target = finding["owner_system"] if finding["owner_system"] in systems else systems[0]
    policy = context.policy
    to = policy.route_to.get(finding["rule_id"]) or policy.route_to.get("*") or "unassigned"
    return "route", target, context.route(finding, target, to, reason=reason)


def _difference(finding: dict) -> Decimal | None:
    """Owner's total minus the other system's, when both are numbers that differ."""
    try:
        owner = Decimal(finding["owner_value"])
        other = Decimal(finding["other_value"])
    except (TypeError, InvalidOperation):
        return None
    difference = (owner - other).quantize(Decimal("0.01"))
    return difference or None

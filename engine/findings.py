"""Findings as an Arrow table: one fixed schema for every rule and for quarantined rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pyarrow as pa

from rules.findings import FINDING_COLUMNS
from rules.sql import table_name

FINDINGS_SCHEMA = pa.schema(
    [
        (name, pa.decimal128(18, 2) if name == "amount_at_risk" else pa.string())
        for name in FINDING_COLUMNS
    ]
)


def empty_findings() -> pa.Table:
    return FINDINGS_SCHEMA.empty_table()


def to_findings(table: pa.Table) -> pa.Table:
    """Give a rule's result the findings schema, whatever string types the engine chose."""
    return table.select(list(FINDING_COLUMNS)).cast(FINDINGS_SCHEMA)


def finding_id(rule_id: str, entity: str, key: str, field: str, problem: str) -> str:
    """The same id the compiled rules compute in SQL, for findings made in Python."""
    return hashlib.md5(f"{rule_id}|{entity}|{key}|{field}|{problem}".encode()).hexdigest()


def quarantine_findings(snapshots: Iterable) -> pa.Table:
    """One data-quality finding per value that broke the canonical schema."""
    rows = []
    for snapshot in snapshots:
        rule_id = f"schema.{table_name(snapshot.ref)}"
        for item in snapshot.quarantined:
            key = item.key or f"row={item.row}"
            value = "NULL" if item.value is None else repr(item.value)
            rows.append(
                {
                    "finding_id": finding_id(
                        rule_id, snapshot.entity, key, item.column, "quarantined"
                    ),
                    "rule_id": rule_id,
                    "kind": "validate",
                    "severity": "high",
                    "entity": snapshot.entity,
                    "problem": "quarantined",
                    "key": key,
                    "field": item.column,
                    "systems": snapshot.system,
                    "owner_system": None,
                    "owner_value": None,
                    "other_value": item.value,
                    "amount_at_risk": None,
                    "message": (
                        f"{item.where or snapshot.source_file}: {item.column} {value} "
                        f"{item.reason}; the row is quarantined."
                    ),
                }
            )
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)


def source_findings(snapshots: Iterable) -> pa.Table:
    """One finding per problem an adapter reported in its source: envelope counts and
    control numbers, schema drift since the last run, layout the reader tolerated."""
    rows = []
    for snapshot in snapshots:
        rule_id = f"source.{table_name(snapshot.ref)}"
        for issue in snapshot.issues:
            rows.append(
                {
                    "finding_id": finding_id(
                        rule_id, snapshot.entity, issue.where, issue.field, issue.problem
                    ),
                    "rule_id": rule_id,
                    "kind": "validate",
                    "severity": issue.severity,
                    "entity": snapshot.entity,
                    "problem": issue.problem,
                    "key": issue.where,
                    "field": issue.field,
                    "systems": snapshot.system,
                    "owner_system": None,
                    "owner_value": None,
                    "other_value": None,
                    "amount_at_risk": None,
                    "message": issue.message,
                }
            )
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)

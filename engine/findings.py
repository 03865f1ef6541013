"""Findings as an Arrow table: one fixed schema for every rule and for quarantined rows."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from rules.findings import FINDING_COLUMNS, finding_id
from rules.sql import table_name

_TYPES = {"amount_at_risk": pa.decimal128(18, 2), "rule_version": pa.int32()}
FINDINGS_SCHEMA = pa.schema([(name, _TYPES.get(name, pa.string())) for name in FINDING_COLUMNS])

__all__ = [
    "FINDINGS_SCHEMA",
    "empty_findings",
    "finding_id",
    "quarantine_findings",
    "source_findings",
    "to_findings",
]


def empty_findings() -> pa.Table:
    return FINDINGS_SCHEMA.empty_table()


def to_findings(table: pa.Table) -> pa.Table:
    """Give a rule's result the findings schema, whatever string types the engine chose."""
    return table.select(list(FINDING_COLUMNS)).cast(FINDINGS_SCHEMA)


def quarantine_findings(snapshots: Iterable) -> pa.Table:
    """One data-quality finding per key and column holding a value that broke the canonical
    schema; several records under one key make one finding that counts them, as in a rule."""
    rows = []
    for snapshot in snapshots:
        rule_id = f"schema.{table_name(snapshot.ref)}"
        alike: dict[tuple[str, str], list] = {}
        for item in snapshot.quarantined:
            alike.setdefault((item.key or f"row={item.row}", item.column), []).append(item)
        for (key, column), items in alike.items():
            item = items[0]
            value = "NULL" if item.value is None else repr(item.value)
            # A record named by its row, not its key, has no usable key: it leaves the snapshot.
            kept = (
                "the record is quarantined and left out of the snapshot"
                if key.startswith("row=")
                else "the value is quarantined and read as NULL"
            )
            more = f" ({len(items)} rows with this key)" if len(items) > 1 else ""
            rows.append(
                {
                    "finding_id": finding_id(rule_id, snapshot.entity, key, column, "quarantined"),
                    "rule_id": rule_id,
                    "kind": "validate",
                    "severity": "high",
                    "entity": snapshot.entity,
                    "problem": "quarantined",
                    "key": key,
                    "field": column,
                    "systems": snapshot.system,
                    "owner_system": None,
                    "owner_value": None,
                    "other_value": item.value,
                    "amount_at_risk": None,
                    "message": (
                        f"{item.where or snapshot.source_file}: {column} {value} "
                        f"{item.reason}; {kept}{more}."
                    ),
                    "owner_team": None,
                    "rule_version": None,
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
            # A column added in one run and dropped in the next are two findings.
            problem = f"{issue.problem}:{issue.variant}" if issue.variant else issue.problem
            rows.append(
                {
                    "finding_id": finding_id(
                        rule_id, snapshot.entity, issue.where, issue.field, problem
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
                    "owner_team": None,
                    "rule_version": None,
                }
            )
    return pa.Table.from_pylist(rows, schema=FINDINGS_SCHEMA)
